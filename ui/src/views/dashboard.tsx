// The dashboard (/): finished runs over time by final state, the last 24 h's failures with
// the task that failed and its message, the agents and the distributed executor's workers
// with their load and last heartbeat, and the runs waiting with why they wait. One request (GET /api/dashboard), refetched when the
// live stream says runs or agents changed (at most every 2 s) and every 30 s for the clocks.
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import type { DashboardResponse } from "../../../src/serialization/dashboard-schemas.ts";
import { api } from "../api.ts";
import { StateBadge } from "../components/state.tsx";
import { formatRelative, formatTime } from "../format.ts";
import { Labels, Panel, QueryState, RunLink } from "../pages/common.tsx";
import { useLiveRefresh } from "../pages/live-refresh.ts";
import { RunsChart } from "../pages/runs-chart.tsx";

const LIVE_WINDOW_MS = 30_000;

export function Dashboard() {
  const { data, error, isPending } = useQuery({
    queryKey: ["dashboard"],
    queryFn: () => api().getDashboard(),
    refetchInterval: 30_000,
  });
  useLiveRefresh([["dashboard"]], { agents: true, throttleMs: 2000 });
  return (
    <div>
      <h1 className="page-title">Dashboard</h1>
      <QueryState error={error} loading={isPending} />
      {data === undefined ? null : (
        <>
          <div className="stats">
            <Stat value={data.runningCount} label="running now" to="/runs?state=Running" />
            <Stat value={data.waitingCount} label="waiting (due)" to="/runs?state=Scheduled" />
            <Stat value={data.failureCount} label="failed in 24 h" to="/runs?state=Failed" />
            <Stat
              value={data.agents.filter((a) => isLive(a.lastSeen, data.now)).length}
              label="live agents"
            />
          </div>
          <div className="page-grid">
            <Panel title="Runs over time">
              <RunsChart data={data} />
            </Panel>
            <Panel title="Failures, last 24 h">
              {data.failures.length === 0 ? (
                <p className="note">No run failed in the last 24 hours.</p>
              ) : (
                <table className="data" id="failures">
                  <thead>
                    <tr>
                      <th scope="col">Run</th>
                      <th scope="col">Failing task</th>
                      <th scope="col">Message</th>
                      <th scope="col">Ended</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.failures.map((f) => (
                      <tr key={f.runId} data-run-id={f.runId} data-state={f.state}>
                        <td>
                          <RunLink id={f.runId} name={f.runName} />
                          <div className="muted">{f.flowName}</div>
                        </td>
                        <td className="mono">
                          {f.task === undefined
                            ? "–"
                            : `${f.task.slug}${f.task.mapIndex === undefined ? "" : `[${f.task.mapIndex}]`}`}
                        </td>
                        <td className="failure-message">{f.task?.message ?? f.message ?? "–"}</td>
                        <td title={formatTime(f.endTime)}>{formatRelative(f.endTime)}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
              {data.failureCount > data.failures.length ? (
                <p className="note">
                  {data.failureCount - data.failures.length} more:{" "}
                  <Link to="/runs?state=Failed">all failed runs</Link>
                </p>
              ) : null}
            </Panel>
            <Panel title="Agents">
              {data.agents.length === 0 ? (
                <p className="note">
                  No agent has registered. Start one with <code>weft agent start</code>.
                </p>
              ) : (
                <table className="data" id="agents">
                  <thead>
                    <tr>
                      <th scope="col">Agent</th>
                      <th scope="col">Labels</th>
                      <th scope="col">Runs in flight</th>
                      <th scope="col">Last heartbeat</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.agents.map((a) => {
                      const live = isLive(a.lastSeen, data.now);
                      return (
                        <tr key={a.id} data-agent={a.name}>
                          <td>
                            <span
                              className={`live-dot${live ? " on" : ""}`}
                              role="img"
                              aria-label={live ? "live" : "not seen recently"}
                            />
                            {a.name}
                          </td>
                          <td>
                            <Labels labels={a.labels} />
                          </td>
                          <td>
                            {a.running} / {a.concurrency}
                          </td>
                          <td title={formatTime(a.lastSeen)}>{formatRelative(a.lastSeen)}</td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              )}
            </Panel>
            <Panel title="Workers">
              <Workers workers={data.workers} />
            </Panel>
            <Panel title="Waiting runs">
              {data.waiting.length === 0 ? (
                <p className="note">No run is waiting.</p>
              ) : (
                <table className="data" id="waiting">
                  <thead>
                    <tr>
                      <th scope="col">Run</th>
                      <th scope="col">Labels</th>
                      <th scope="col">Why it waits</th>
                    </tr>
                  </thead>
                  <tbody>
                    {data.waiting.map((w) => (
                      <tr key={w.runId} data-run-id={w.runId} data-state="Scheduled">
                        <td>
                          <RunLink id={w.runId} name={w.runName} /> <StateBadge type="Scheduled" />
                          <div className="muted" title={formatTime(w.scheduledStart)}>
                            due {formatRelative(w.scheduledStart)}
                          </div>
                        </td>
                        <td>
                          <Labels labels={w.labels} />
                        </td>
                        <td className="waiting-reason">{w.reason}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </Panel>
          </div>
        </>
      )}
    </div>
  );
}

/** The distributed executor's workers (Redis): listed when the server was given their Redis. */
function Workers({ workers }: { workers: DashboardResponse["workers"] }) {
  if (workers.source === undefined)
    return (
      <p className="note">
        Workers of the distributed executor live on Redis. Start the server with{" "}
        <code>--redis &lt;url&gt;</code> (or <code>WEFT_REDIS_URL</code>) to list them here.
      </p>
    );
  return (
    <>
      {workers.error === undefined ? null : (
        <p className="note note-error" role="alert">
          {workers.error}
        </p>
      )}
      {workers.items.length === 0 ? (
        workers.error === undefined ? (
          <p className="note">
            No live worker on {workers.source}. Start one with <code>weft worker start</code>.
          </p>
        ) : null
      ) : (
        <table className="data" id="workers">
          <thead>
            <tr>
              <th scope="col">Worker</th>
              <th scope="col">Queues</th>
              <th scope="col">Jobs running</th>
              <th scope="col">Host</th>
              <th scope="col">Last heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {workers.items.map((w) => (
              <tr key={w.name} data-worker={w.name}>
                <td>{w.name}</td>
                <td>
                  <Labels labels={w.queues} />
                </td>
                <td>
                  {w.active ?? "?"} / {w.concurrency * w.queues.length}
                </td>
                <td className="mono">
                  {w.host} (pid {w.pid})
                </td>
                <td title={w.lastHeartbeat === undefined ? undefined : formatTime(w.lastHeartbeat)}>
                  {w.lastHeartbeat === undefined ? "–" : formatRelative(w.lastHeartbeat)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <p className="note">From {workers.source}.</p>
    </>
  );
}

function Stat({ value, label, to }: { value: number; label: string; to?: string }) {
  const body = (
    <>
      <strong>{value}</strong>
      <span>{label}</span>
    </>
  );
  return <div className="stat">{to === undefined ? body : <Link to={to}>{body}</Link>}</div>;
}

function isLive(lastSeen: string, now: string): boolean {
  return Date.parse(now) - Date.parse(lastSeen) <= LIVE_WINDOW_MS;
}
