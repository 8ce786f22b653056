// The flows (/flows): every flow's active version, its labels, schedule, storage and
// environment, linking to the flow's page.
import { useQuery } from "@tanstack/react-query";
import { Link } from "react-router";
import { api } from "../api.ts";
import { formatRelative, formatTime } from "../format.ts";
import { Labels, Panel, QueryState } from "../pages/common.tsx";
import { kindText, scheduleText } from "../pages/flow-parts.tsx";

export function Flows() {
  const { data, error, isPending } = useQuery({
    queryKey: ["flows"],
    queryFn: () => api().listFlows({ limit: 500 }),
  });
  return (
    <div>
      <h1 className="page-title">Flows</h1>
      <QueryState error={error} loading={isPending} />
      {data === undefined ? null : (
        <Panel title={`${data.items.length} active flow version(s)`} id="flows">
          {data.items.length === 0 ? (
            <p className="note">
              No flow is registered yet. Register one with <code>weft register flows.ts</code>.
            </p>
          ) : (
            <table className="data">
              <thead>
                <tr>
                  <th scope="col">Flow</th>
                  <th scope="col">Version</th>
                  <th scope="col">Labels</th>
                  <th scope="col">Schedule</th>
                  <th scope="col">Storage</th>
                  <th scope="col">Environment</th>
                  <th scope="col">Registered</th>
                </tr>
              </thead>
              <tbody>
                {[...data.items]
                  .sort((a, b) => a.name.localeCompare(b.name))
                  .map((f) => (
                    <tr key={f.id} data-flow={f.name}>
                      <td>
                        <Link to={`/flows/${encodeURIComponent(f.name)}`}>{f.name}</Link>
                      </td>
                      <td>
                        v{f.version}{" "}
                        <span className="muted mono">{f.contentHash.slice(0, 10)}</span>
                      </td>
                      <td>
                        <Labels labels={f.labels} />
                      </td>
                      <td>{scheduleText(f.schedule)}</td>
                      <td>{kindText(f.storage)}</td>
                      <td>{kindText(f.environment)}</td>
                      <td title={formatTime(f.createdAt)}>{formatRelative(f.createdAt)}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          )}
          {data.nextCursor ? <p className="note">Showing the first 500 flows.</p> : null}
        </Panel>
      )}
    </div>
  );
}
