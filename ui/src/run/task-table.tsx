// The run's task runs as a table: state, attempts, duration, map index, result location;
// filtered by state and by task, paged (PAGE rows), so 10,000 mapped children stay 100 rows.
import { useMemo, useState } from "react";
import type { TaskRunRecord } from "../../../src/serialization/api-schemas.ts";
import { StateBadge } from "../components/state.tsx";
import { durationBetween } from "../format.ts";
import { taskRunKey } from "./run-data.ts";

const PAGE = 100;

export function TaskTable(props: {
  taskRuns: readonly TaskRunRecord[];
  task: string | undefined;
  onSelect: (slug: string | undefined) => void;
  onLogs: (slug: string) => void;
}) {
  const { taskRuns, task, onSelect, onLogs } = props;
  const [state, setState] = useState("");
  const [page, setPage] = useState(0);
  const states = useMemo(() => [...new Set(taskRuns.map((t) => t.state.type))].sort(), [taskRuns]);
  const rows = useMemo(
    () =>
      taskRuns.filter(
        (t) => (state === "" || t.state.type === state) && (task === undefined || t.slug === task),
      ),
    [taskRuns, state, task],
  );
  const pages = Math.max(1, Math.ceil(rows.length / PAGE));
  const at = Math.min(page, pages - 1);
  const shown = rows.slice(at * PAGE, at * PAGE + PAGE);
  return (
    <section className="task-table" aria-label="Task runs">
      <div className="run-filters">
        <label>
          State{" "}
          <select
            value={state}
            onChange={(e) => {
              setState(e.target.value);
              setPage(0);
            }}
          >
            <option value="">all</option>
            {states.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        {task !== undefined && (
          <span>
            Task <code>{task}</code>{" "}
            <button type="button" onClick={() => onSelect(undefined)}>
              All tasks
            </button>
          </span>
        )}
        <span className="muted">{rows.length.toLocaleString("en-US")} task runs</span>
      </div>
      <table className="run-table">
        <thead>
          <tr>
            <th scope="col">Task</th>
            <th scope="col">Map index</th>
            <th scope="col">State</th>
            <th scope="col">Attempts</th>
            <th scope="col">Duration</th>
            <th scope="col">Result location</th>
            <th scope="col">
              <span className="visually-hidden">Logs</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {shown.map((t) => (
            <tr key={taskRunKey(t)} data-task-run={taskRunKey(t)} data-state={t.state.type}>
              <td>
                <button type="button" className="link-button" onClick={() => onSelect(t.slug)}>
                  {t.slug}
                </button>
              </td>
              <td>{t.mapIndex ?? "–"}</td>
              <td>
                <StateBadge type={t.state.type} message={t.state.message} />
              </td>
              <td>{t.attempts}</td>
              <td>{durationBetween(t.startTime, t.endTime)}</td>
              <td>
                {(t.resultRef ?? t.state.location) === undefined ? (
                  "–"
                ) : (
                  <code className="run-location">{t.resultRef ?? t.state.location}</code>
                )}
              </td>
              <td>
                <button type="button" className="link-button" onClick={() => onLogs(t.slug)}>
                  Logs
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {pages > 1 && (
        <nav className="run-pager" aria-label="Task run pages">
          <button type="button" disabled={at === 0} onClick={() => setPage(at - 1)}>
            Previous
          </button>
          <span>
            Page {at + 1} of {pages}
          </span>
          <button type="button" disabled={at >= pages - 1} onClick={() => setPage(at + 1)}>
            Next
          </button>
        </nav>
      )}
    </section>
  );
}
