// The run page's header: what the run is (name, flow, state with its message, times, agent,
// labels, parameters), where it sits among runs (parent, children) and how it got here (its
// state history).
import { Link } from "react-router";
import type { FlowRunDetail } from "../../../src/serialization/api-schemas.ts";
import { StateBadge } from "../components/state.tsx";
import { durationBetween, formatTime } from "../format.ts";

export function RunHeader({ run }: { run: FlowRunDetail }) {
  const params = Object.entries(run.parameters);
  return (
    <header className="run-header">
      <div className="run-title">
        <h1>{run.name}</h1>
        <StateBadge type={run.state.type} message={run.state.message} />
        {run.state.message && <span className="run-state-message">{run.state.message}</span>}
      </div>
      <dl className="run-facts">
        <dt>Flow</dt>
        <dd>
          <Link to={`/flows/${encodeURIComponent(run.flowName)}`}>{run.flowName}</Link> v
          {run.flowVersion}
        </dd>
        <dt>Scheduled</dt>
        <dd>{formatTime(run.scheduledStart)}</dd>
        <dt>Started</dt>
        <dd>{formatTime(run.startTime)}</dd>
        <dt>Ended</dt>
        <dd>{formatTime(run.endTime)}</dd>
        <dt>Duration</dt>
        <dd>{durationBetween(run.startTime, run.endTime)}</dd>
        <dt>Agent</dt>
        <dd>{run.agentId ?? "–"}</dd>
        <dt>Labels</dt>
        <dd>
          {run.labels.length === 0
            ? "–"
            : run.labels.map((l) => (
                <span key={l} className="run-label">
                  {l}
                </span>
              ))}
        </dd>
        {run.parentRunId !== undefined && (
          <>
            <dt>Parent run</dt>
            <dd>
              <Link to={`/runs/${encodeURIComponent(run.parentRunId)}`}>{run.parentRunId}</Link>
              {run.parentTaskRun && ` (task ${run.parentTaskRun})`}
            </dd>
          </>
        )}
      </dl>
      <details className="run-more" open={params.length > 0 && params.length <= 6}>
        <summary>Parameters ({params.length})</summary>
        {params.length === 0 ? (
          <p className="muted">This run has no parameters.</p>
        ) : (
          <table className="run-table run-params">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Value</th>
              </tr>
            </thead>
            <tbody>
              {params.map(([name, value]) => (
                <tr key={name}>
                  <td>{name}</td>
                  <td>
                    <code>{JSON.stringify(value)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </details>
      {run.childRuns.length > 0 && (
        <details className="run-more" open>
          <summary>Child runs ({run.childRuns.length})</summary>
          <ul className="run-children">
            {run.childRuns.map((c) => (
              <li key={c.id} data-run-id={c.id} data-state={c.state.type}>
                <Link to={`/runs/${encodeURIComponent(c.id)}`}>{c.name}</Link> ({c.flowName}){" "}
                <StateBadge type={c.state.type} message={c.state.message} />
                {c.parentTaskRun && <span className="muted"> from {c.parentTaskRun}</span>}
              </li>
            ))}
          </ul>
        </details>
      )}
      <details className="run-more">
        <summary>State history ({run.history.length})</summary>
        <ol className="run-history">
          {run.history.map((s, i) => (
            // biome-ignore lint/suspicious/noArrayIndexKey: the history only grows at its end.
            <li key={i}>
              <StateBadge type={s.type} message={s.message} /> {formatTime(s.timestamp)}
              {s.message && <span className="muted"> — {s.message}</span>}
            </li>
          ))}
        </ol>
      </details>
    </header>
  );
}
