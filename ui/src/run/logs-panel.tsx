// The run's logs: level filter, search, one task or all, older pages through the logs route's
// cursor, and follow mode (the list keeps to its bottom while the reader is at the bottom;
// scrolling up stops following until they scroll back down).
//
// Decisions: filtering is done here, over the pages loaded (the logs route filters nothing);
// at most SHOWN matching lines are in the DOM (the newest), so a run of 100,000 log lines
// stays responsive — search narrows to what is older.
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import type { LogEntry } from "../../../src/serialization/api-schemas.ts";
import type { RunLogs } from "./run-data.ts";

const LEVELS = ["debug", "info", "warn", "error"] as const;
const RANK: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const SHOWN = 1000;

export function LogsPanel(props: {
  logs: RunLogs;
  task: string | undefined;
  tasks: readonly string[];
  onTask: (slug: string | undefined) => void;
}) {
  const { logs, task, tasks, onTask } = props;
  const [level, setLevel] = useState<string>("debug");
  const [search, setSearch] = useState("");
  const [follow, setFollow] = useState(true);
  const list = useRef<HTMLOListElement>(null);
  const matching = useMemo(() => {
    const needle = search.trim().toLowerCase();
    const min = RANK[level] ?? 0;
    return logs.entries.filter(
      (e) =>
        (RANK[e.level] ?? 0) >= min &&
        (task === undefined || e.taskSlug === task) &&
        (needle === "" || e.message.toLowerCase().includes(needle)),
    );
  }, [logs.entries, level, search, task]);
  const shown = matching.length > SHOWN ? matching.slice(-SHOWN) : matching;

  useLayoutEffect(() => {
    const el = list.current;
    if (follow && el !== null && shown.length > 0) el.scrollTop = el.scrollHeight;
  }, [follow, shown]);
  // Follow when the reader returns to the bottom, stop when they scroll up.
  useEffect(() => {
    const el = list.current;
    if (el === null) return;
    const onScroll = () => setFollow(el.scrollHeight - el.scrollTop - el.clientHeight < 24);
    el.addEventListener("scroll", onScroll, { passive: true });
    return () => el.removeEventListener("scroll", onScroll);
  }, []);

  return (
    <section className="logs-panel" aria-label="Logs">
      <div className="run-filters">
        <label>
          Level{" "}
          <select value={level} onChange={(e) => setLevel(e.target.value)}>
            {LEVELS.map((l) => (
              <option key={l} value={l}>
                {l} and above
              </option>
            ))}
          </select>
        </label>
        <label>
          Task{" "}
          <select
            value={task ?? ""}
            onChange={(e) => onTask(e.target.value === "" ? undefined : e.target.value)}
          >
            <option value="">all tasks</option>
            {tasks.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label>
          Search <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
        </label>
        <label>
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} />{" "}
          Follow
        </label>
        <span className="muted" aria-live="polite">
          {matching.length.toLocaleString("en-US")} of {logs.entries.length.toLocaleString("en-US")}{" "}
          lines
          {matching.length > SHOWN ? ` (the newest ${SHOWN} shown)` : ""}
        </span>
      </div>
      <ol ref={list} className="logs-list" aria-label="Log lines">
        {shown.map((e) => (
          <LogLine key={e.id} entry={e} />
        ))}
        {shown.length === 0 && (
          <li className="muted">{logs.loading ? "Loading logs…" : "No log lines."}</li>
        )}
      </ol>
      {logs.more && (
        <button
          type="button"
          className="run-more-button"
          disabled={logs.loading}
          onClick={logs.loadMore}
        >
          {logs.loading ? "Loading…" : "Load newer lines"}
        </button>
      )}
    </section>
  );
}

function LogLine({ entry }: { entry: LogEntry }) {
  const time = new Date(entry.time);
  return (
    <li
      className={`log-line log-${entry.level}`}
      data-level={entry.level}
      data-task-slug={entry.taskSlug}
    >
      <time dateTime={time.toISOString()}>
        {time.toLocaleTimeString(undefined, { hour12: false })}
      </time>
      <span className="log-level">{entry.level}</span>
      <span className="log-task">
        {entry.taskSlug === undefined
          ? "flow"
          : `${entry.taskSlug}${entry.mapIndex === undefined ? "" : `[${entry.mapIndex}]`}`}
      </span>
      <span className="log-message">{entry.message}</span>
      {entry.fields !== undefined && (
        <code className="log-fields">{JSON.stringify(entry.fields)}</code>
      )}
    </li>
  );
}
