// A table of runs: one row per run with `data-run-id` and `data-state` (the hooks tests and
// the UI bench use), its state, flow, labels, scheduled start and duration, and a link to
// its page. Shared by the runs list and a flow's recent runs.
import type { FlowRunRecord } from "../../../src/serialization/api-schemas.ts";
import { StateBadge } from "../components/state.tsx";
import { durationBetween, formatRelative, formatTime } from "../format.ts";
import { Labels, RunLink } from "./common.tsx";

/** Runs as a table (the caller pages them: never thousands of rows). */
export function RunsTable({
  runs,
  showFlow = true,
  caption,
}: {
  runs: readonly FlowRunRecord[];
  showFlow?: boolean;
  caption?: string;
}) {
  return (
    <table className="data runs-table">
      {caption ? <caption className="muted">{caption}</caption> : null}
      <thead>
        <tr>
          <th scope="col">Run</th>
          <th scope="col">State</th>
          {showFlow ? <th scope="col">Flow</th> : null}
          <th scope="col">Labels</th>
          <th scope="col">Scheduled</th>
          <th scope="col">Duration</th>
        </tr>
      </thead>
      <tbody>
        {runs.map((run) => (
          <tr key={run.id} data-run-id={run.id} data-state={run.state.type}>
            <td>
              <RunLink id={run.id} name={run.name} />
            </td>
            <td>
              <StateBadge type={run.state.type} message={run.state.message} />
            </td>
            {showFlow ? (
              <td>
                {run.flowName} <span className="muted">v{run.flowVersion}</span>
              </td>
            ) : null}
            <td>
              <Labels labels={run.labels} />
            </td>
            <td title={formatTime(run.scheduledStart)}>{formatRelative(run.scheduledStart)}</td>
            <td>
              {run.startTime === undefined ? "–" : durationBetween(run.startTime, run.endTime)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
