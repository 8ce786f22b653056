// What the page shows of one task (the node selected in the graph, the timeline or the table):
// its state, attempts, times, error with stack, and, for a mapped task, the list of its children,
// virtualized (only the rows in view are in the DOM, so 10,000 children cost ~20 rows).
// Also the run's errors: every failed task run's message and stack, in one place.
import { useMemo, useState } from "react";
import type { TaskRunRecord } from "../../../src/serialization/api-schemas.ts";
import type { SerializedState } from "../../../src/serialization/schemas.ts";
import { describeCounts, type GraphNodeState } from "../components/flow-graph.tsx";
import { StateBadge, stateTone } from "../components/state.tsx";
import { durationBetween, formatTime } from "../format.ts";
import { taskRunKey } from "./run-data.ts";

const FAILED = new Set(["Failed", "TriggerFailed", "TimedOut"]);

/** A state's error: message, code, hint and the stack. */
export function ErrorView({ state }: { state: SerializedState }) {
  const error = state.error;
  if (error === undefined)
    return state.message ? <p className="run-error-message">{state.message}</p> : null;
  return (
    <div className="run-error">
      <p className="run-error-message">
        <strong>{error.type}</strong>: {error.message}
        {error.code && <code className="run-error-code"> {error.code}</code>}
      </p>
      {error.hint && <p className="muted">hint: {error.hint}</p>}
      {error.stack && (
        <details open>
          <summary>Stack</summary>
          <pre className="run-stack">{error.stack}</pre>
        </details>
      )}
    </div>
  );
}

/** Every failed task run's error (the first FAILED_SHOWN; the rest counted). */
export function RunErrors({
  taskRuns,
  onSelect,
}: {
  taskRuns: readonly TaskRunRecord[];
  onSelect: (slug: string) => void;
}) {
  const failed = useMemo(() => taskRuns.filter((t) => FAILED.has(t.state.type)), [taskRuns]);
  if (failed.length === 0) return null;
  const shown = failed.slice(0, 5);
  return (
    <section className="run-errors" aria-label="Errors">
      <h2>
        {failed.length === 1
          ? "1 task failed"
          : `${failed.length.toLocaleString("en-US")} tasks failed`}
      </h2>
      {shown.map((t) => (
        <article key={taskRunKey(t)} className="run-error-item" data-task-run={taskRunKey(t)}>
          <h3>
            <button type="button" className="link-button" onClick={() => onSelect(t.slug)}>
              {taskRunKey(t)}
            </button>{" "}
            <StateBadge type={t.state.type} />
          </h3>
          <ErrorView state={t.state} />
        </article>
      ))}
      {failed.length > shown.length && (
        <p className="muted">
          …and {failed.length - shown.length} more (filter the task runs by state).
        </p>
      )}
    </section>
  );
}

const ROW = 30;
const VIEW = 300;

/** The selected task: its own run, and its children when mapped. */
export function TaskPanel(props: {
  slug: string;
  name: string;
  node: GraphNodeState | undefined;
  taskRuns: readonly TaskRunRecord[];
  actions?: React.ReactNode;
  onLogs: () => void;
  onClose: () => void;
}) {
  const { slug, name, node, taskRuns, actions, onLogs, onClose } = props;
  const own = taskRuns.find((t) => t.slug === slug && t.mapIndex === undefined);
  const children = useMemo(
    () =>
      taskRuns
        .filter((t) => t.slug === slug && t.mapIndex !== undefined)
        .sort((a, b) => a.mapIndex! - b.mapIndex!),
    [taskRuns, slug],
  );
  return (
    <section className="task-panel" aria-label={`Task ${name}`} data-task-slug={slug}>
      <header className="task-panel-head">
        <h2>
          {name} {name !== slug && <code className="muted">{slug}</code>}
        </h2>
        {node !== undefined && <StateBadge type={node.type} message={node.message} />}
        <button type="button" onClick={onLogs}>
          Logs of this task
        </button>
        {actions}
        <button type="button" onClick={onClose} aria-label="Close the task panel">
          Close
        </button>
      </header>
      {own === undefined && children.length === 0 && (
        <p className="muted">This task has not run yet.</p>
      )}
      {own !== undefined && (
        <dl className="run-facts">
          <dt>Attempts</dt>
          <dd>{own.attempts}</dd>
          <dt>Started</dt>
          <dd>{formatTime(own.startTime)}</dd>
          <dt>Ended</dt>
          <dd>{formatTime(own.endTime)}</dd>
          <dt>Duration</dt>
          <dd>{durationBetween(own.startTime, own.endTime)}</dd>
          {(own.resultRef ?? own.state.location) !== undefined && (
            <>
              <dt>Result</dt>
              <dd>
                <code>{own.resultRef ?? own.state.location}</code>
              </dd>
            </>
          )}
        </dl>
      )}
      {own !== undefined && FAILED.has(own.state.type) && <ErrorView state={own.state} />}
      {node?.children !== undefined && (
        <p className="task-panel-counts" data-children={children.length}>
          {children.length.toLocaleString("en-US")} children: {describeCounts(node.children)}
        </p>
      )}
      {children.length > 0 && <ChildList items={children} />}
    </section>
  );
}

/** A mapped task's children, virtualized: fixed-height rows, only those in view rendered. */
function ChildList({ items }: { items: readonly TaskRunRecord[] }) {
  const [top, setTop] = useState(0);
  const [open, setOpen] = useState<number | undefined>(undefined);
  const first = Math.max(0, Math.floor(top / ROW) - 5);
  const last = Math.min(items.length, Math.ceil((top + VIEW) / ROW) + 5);
  const rows = items.slice(first, last);
  const chosen = open === undefined ? undefined : items.find((t) => t.mapIndex === open);
  return (
    <div className="child-list-wrap">
      <div
        className="child-list"
        style={{ height: Math.min(VIEW, items.length * ROW + 2) }}
        onScroll={(e) => setTop(e.currentTarget.scrollTop)}
        // biome-ignore lint/a11y/noNoninteractiveTabindex: the scrolling list is reachable by keyboard.
        tabIndex={0}
      >
        <ul aria-label="Children" style={{ height: items.length * ROW, position: "relative" }}>
          {rows.map((t, i) => (
            <li
              key={t.mapIndex}
              className={`child-row state-${stateTone(t.state.type)}`}
              style={{ top: (first + i) * ROW, height: ROW }}
              data-map-index={t.mapIndex}
              data-state={t.state.type}
            >
              <button type="button" className="link-button" onClick={() => setOpen(t.mapIndex)}>
                [{t.mapIndex}]
              </button>
              <StateBadge type={t.state.type} message={t.state.message} />
              <span className="muted">{durationBetween(t.startTime, t.endTime)}</span>
              {t.attempts > 1 && <span className="muted">{t.attempts} attempts</span>}
            </li>
          ))}
        </ul>
      </div>
      {chosen !== undefined && (
        <div className="child-detail">
          <h3>
            {taskRunKey(chosen)} <StateBadge type={chosen.state.type} />
          </h3>
          <ErrorView state={chosen.state} />
        </div>
      )}
    </div>
  );
}
