// One flow (/flows/:name): its versions (the active one marked, content hash, storage,
// environment, labels), its schedule and the runs the scheduler has made ahead, its graph,
// its recent runs, and "start a run" (a form from its parameter specs) for a token that may.
import { useQuery } from "@tanstack/react-query";
import { useParams } from "react-router";
import { api } from "../api.ts";
import { formatRelative, formatTime } from "../format.ts";
import { Labels, Panel, QueryState, RunLink } from "../pages/common.tsx";
import { FlowGraphPanel, kindText, scheduleText } from "../pages/flow-parts.tsx";
import { useLiveRefresh } from "../pages/live-refresh.ts";
import { RunsTable } from "../pages/runs-table.tsx";
import { StartRunForm } from "../pages/start-run-form.tsx";
import { useSession } from "../session.tsx";

export function FlowPage() {
  const name = useParams().name ?? "";
  const session = useSession();
  const versions = useQuery({
    queryKey: ["flow", name, "versions"],
    queryFn: () => api().listFlows({ name, archived: "all", limit: 100 }),
  });
  const items = versions.data?.items ?? [];
  const active = items.find((v) => !v.archived) ?? items[0];
  const detail = useQuery({
    queryKey: ["flow", name, "detail", active?.id],
    queryFn: () => api().getFlow(active!.id),
    enabled: active !== undefined,
  });
  const recent = useQuery({
    queryKey: ["flow", name, "runs"],
    queryFn: () => api().listFlowRuns({ flowName: name, limit: 15 }),
  });
  const upcoming = useQuery({
    queryKey: ["flow", name, "next"],
    queryFn: () =>
      api().listFlowRuns({
        flowName: name,
        state: "Scheduled",
        since: new Date().toISOString(),
        limit: 100,
      }),
    enabled: active?.schedule !== undefined,
  });
  useLiveRefresh(
    [
      ["flow", name, "runs"],
      ["flow", name, "next"],
    ],
    {
      patch: (_client, run) => (run.flowName === name ? "refetch" : "patched"),
    },
  );
  if (versions.data !== undefined && items.length === 0)
    return (
      <div>
        <h1 className="page-title">{name}</h1>
        <p className="note note-error">No flow named {JSON.stringify(name)} is registered.</p>
      </div>
    );
  const next = [...(upcoming.data?.items ?? [])].reverse().slice(0, 5);
  return (
    <div>
      <h1 className="page-title">{name}</h1>
      <QueryState error={versions.error} loading={versions.isPending} />
      {active === undefined ? null : (
        <div className="page-grid">
          <Panel title="Versions">
            <table className="data" id="versions">
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">Content hash</th>
                  <th scope="col">Storage</th>
                  <th scope="col">Environment</th>
                  <th scope="col">Labels</th>
                  <th scope="col">Registered</th>
                </tr>
              </thead>
              <tbody>
                {items.map((v) => (
                  <tr key={v.id} data-version={v.version} data-active={v === active}>
                    <td>
                      v{v.version}{" "}
                      {v === active ? (
                        <span className="chip">active</span>
                      ) : (
                        <span className="muted">archived</span>
                      )}
                    </td>
                    <td className="mono" title={v.contentHash}>
                      {v.contentHash.slice(0, 12)}
                    </td>
                    <td>{kindText(v.storage)}</td>
                    <td>{kindText(v.environment)}</td>
                    <td>
                      <Labels labels={v.labels} />
                    </td>
                    <td title={formatTime(v.createdAt)}>{formatRelative(v.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Panel>
          <Panel title="Schedule">
            <p>{scheduleText(active.schedule)}</p>
            {active.schedule === undefined ? null : next.length === 0 ? (
              <p className="note">No run is scheduled ahead yet.</p>
            ) : (
              <ul>
                {next.map((r) => (
                  <li key={r.id}>
                    <RunLink id={r.id} name={formatTime(r.scheduledStart)} />{" "}
                    <span className="muted">({formatRelative(r.scheduledStart)})</span>
                  </li>
                ))}
              </ul>
            )}
          </Panel>
          {session.can("startRun") ? (
            <Panel title="Start a run">
              {detail.data === undefined ? (
                <QueryState error={detail.error} loading={detail.isPending} />
              ) : (
                <StartRunForm flowName={name} parameters={detail.data.flow.parameters} />
              )}
            </Panel>
          ) : null}
          <Panel title="Graph">
            {detail.data === undefined ? (
              <QueryState error={detail.error} loading={detail.isPending} />
            ) : (
              <FlowGraphPanel flow={detail.data.flow} />
            )}
          </Panel>
        </div>
      )}
      <Panel title="Recent runs">
        <QueryState error={recent.error} loading={recent.isPending} />
        {recent.data === undefined ? null : recent.data.items.length === 0 ? (
          <p className="note">No run yet.</p>
        ) : (
          <RunsTable runs={recent.data.items} showFlow={false} />
        )}
      </Panel>
    </div>
  );
}
