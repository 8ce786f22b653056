// The run page, /runs/:id: the header (what, when, where, parameters, history), the actions the
// user's scope allows, the errors of failed tasks, and four views of the tasks — graph,
// timeline, table, logs — each with its own URL (`?tab=`), and a selected task (`?task=`)
// that narrows the table and the logs. Everything stays live through the run's event stream
// (run/run-data.ts).
import { useEffect, useMemo } from "react";
import { Link, useParams, useSearchParams } from "react-router";
import { ApiError, needsSignIn } from "../api.ts";
import { FlowGraph, type FlowGraphData } from "../components/flow-graph.tsx";
import { LogsPanel } from "../run/logs-panel.tsx";
import { ApproveButton, RunActions } from "../run/run-actions.tsx";
import {
  FINISHED_STATES,
  nodeStates,
  useFlowDetail,
  useRunDetail,
  useRunLogs,
} from "../run/run-data.ts";
import { RunHeader } from "../run/run-header.tsx";
import { RunErrors, TaskPanel } from "../run/task-panel.tsx";
import { TaskTable } from "../run/task-table.tsx";
import { Timeline } from "../run/timeline.tsx";
import "../run/run.css";

const TABS = [
  ["graph", "Graph"],
  ["timeline", "Timeline"],
  ["tasks", "Task runs"],
  ["logs", "Logs"],
] as const;
type Tab = (typeof TABS)[number][0];

export function RunPage() {
  const { id = "" } = useParams();
  return <RunView key={id} id={id} />;
}

function RunView({ id }: { id: string }) {
  const [search, setSearch] = useSearchParams();
  const tab = (TABS.find(([t]) => t === search.get("tab"))?.[0] ?? "graph") as Tab;
  const task = search.get("task") ?? undefined;
  const { query, status, logSink } = useRunDetail(id);
  const run = query.data;
  const flow = useFlowDetail(run?.flowId);
  const logs = useRunLogs(id, logSink);
  // Without the stream, logs follow the run's refetches (every second while it runs), then
  // every 2 s for 10 s after it ends (its last lines arrive after its final state); and opening
  // the logs tab reads them again.
  const refreshLogs = logs.refresh;
  const polled = status !== "live" ? query.dataUpdatedAt : 0;
  useEffect(() => {
    if (polled !== 0) refreshLogs();
  }, [polled, refreshLogs]);
  const endedAt = run?.endTime;
  useEffect(() => {
    if (status === "live" || endedAt === undefined) return;
    const until = Date.parse(endedAt) + 10_000;
    if (Date.now() > until) return;
    const timer = setInterval(() => {
      if (Date.now() > until) clearInterval(timer);
      refreshLogs();
    }, 2000);
    return () => clearInterval(timer);
  }, [status, endedAt, refreshLogs]);
  useEffect(() => {
    if (tab === "logs" && status !== "live") refreshLogs();
  }, [tab, status, refreshLogs]);

  const go = (next: { tab?: Tab; task?: string | undefined }) => {
    const params = new URLSearchParams(search);
    if (next.tab !== undefined) params.set("tab", next.tab);
    if ("task" in next) {
      if (next.task === undefined) params.delete("task");
      else params.set("task", next.task);
    }
    setSearch(params, { replace: true });
  };

  const taskRuns = run?.taskRuns;
  const states = useMemo(
    () => (taskRuns === undefined ? undefined : nodeStates(taskRuns)),
    [taskRuns],
  );
  // The graph from the flow version; before it comes (or if it cannot), the tasks seen so far.
  const graph = useMemo<FlowGraphData | undefined>(() => {
    if (flow.data !== undefined) return flow.data.flow;
    if (flow.isPending && flow.fetchStatus !== "idle") return undefined;
    if (taskRuns === undefined) return undefined;
    const slugs = [...new Set(taskRuns.map((t) => t.slug))];
    return { tasks: slugs.map((slug) => ({ slug, name: slug })), edges: [] };
  }, [flow.data, flow.isPending, flow.fetchStatus, taskRuns]);
  const slugs = useMemo(() => graph?.tasks.map((t) => t.slug) ?? [], [graph]);

  if (query.isPending) return <p className="muted">Loading run {id}…</p>;
  if (query.isError) {
    const error = query.error;
    if (needsSignIn(error))
      return (
        <p>
          Sign in to see this run: <Link to="/sign-in">sign in</Link>.
        </p>
      );
    return (
      <div role="alert">
        <h1>Run {id}</h1>
        <p>
          {error instanceof ApiError && error.status === 404
            ? "There is no run with this id."
            : String(error)}
        </p>
      </div>
    );
  }
  const detail = run!;
  const finished = FINISHED_STATES.has(detail.state.type);
  const selectedTask = task === undefined ? undefined : graph?.tasks.find((t) => t.slug === task);

  return (
    <div className="run-page" data-run-id={detail.id} data-state={detail.state.type}>
      <RunHeader run={detail} />
      <div className="run-toolbar">
        <RunActions run={detail} flow={flow.data?.flow} />
        <span className={`run-live run-live-${status}`} title="Updates from the server">
          {finished
            ? "finished"
            : status === "live"
              ? "● live"
              : status === "retrying"
                ? "reconnecting…"
                : "connecting…"}
        </span>
      </div>
      {detail.state.error !== undefined && (
        <section className="run-errors" aria-label="Run error">
          <h2>The run failed</h2>
          <p className="run-error-message">
            <strong>{detail.state.error.type}</strong>: {detail.state.error.message}
          </p>
          {detail.state.error.stack && <pre className="run-stack">{detail.state.error.stack}</pre>}
        </section>
      )}
      <RunErrors taskRuns={detail.taskRuns} onSelect={(slug) => go({ tab: "graph", task: slug })} />
      <div className="run-tabs" role="tablist" aria-label="Run views">
        {TABS.map(([t, label]) => (
          <button
            key={t}
            type="button"
            role="tab"
            id={`run-tab-${t}`}
            aria-selected={tab === t}
            aria-controls="run-tabpanel"
            className={tab === t ? "is-active" : undefined}
            onClick={() => go({ tab: t })}
          >
            {label}
            {t === "tasks" && ` (${detail.taskRuns.length.toLocaleString("en-US")})`}
            {t === "logs" &&
              ` (${logs.entries.length.toLocaleString("en-US")}${logs.more ? "+" : ""})`}
          </button>
        ))}
      </div>
      <div
        id="run-tabpanel"
        role="tabpanel"
        aria-labelledby={`run-tab-${tab}`}
        className="run-tabpanel"
      >
        {tab === "graph" &&
          (graph === undefined ? (
            <p className="muted">Loading the flow's graph…</p>
          ) : (
            <>
              <FlowGraph
                graph={graph}
                states={states}
                selected={task}
                onSelect={(slug) => go({ task: slug })}
              />
              {task !== undefined && (
                <TaskPanel
                  slug={task}
                  name={selectedTask?.name ?? task}
                  node={states?.[task]}
                  taskRuns={detail.taskRuns}
                  actions={<ApproveButton run={detail} slug={task} state={states?.[task]?.type} />}
                  onLogs={() => go({ tab: "logs", task })}
                  onClose={() => go({ task: undefined })}
                />
              )}
            </>
          ))}
        {tab === "timeline" && (
          <Timeline
            taskRuns={detail.taskRuns}
            runStart={detail.startTime}
            runEnd={detail.endTime}
            live={!finished}
            onSelect={(slug) => go({ tab: "graph", task: slug })}
          />
        )}
        {tab === "tasks" && (
          <TaskTable
            taskRuns={detail.taskRuns}
            task={task}
            onSelect={(slug) => go({ task: slug })}
            onLogs={(slug) => go({ tab: "logs", task: slug })}
          />
        )}
        {tab === "logs" && (
          <LogsPanel logs={logs} task={task} tasks={slugs} onTask={(slug) => go({ task: slug })} />
        )}
      </div>
    </div>
  );
}
