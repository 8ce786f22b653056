// The run's timeline (a Gantt chart): one row per task run, a bar from its start to its end (or
// now), coloured by state, with its attempts written on it and its waits (a retry's delay until
// `retryAt`, a pause, a wait to start) drawn hatched; a time axis relative to the run's start.
//
// Decisions: rows are sorted by start and capped (ROWS at a time, "Show more"), so a run of
// 10,000 task runs draws 200 rows, not 10,000. Bars are positioned divs (percentages of the
// visible span), which keeps the chart responsive without measuring the page.
import { useEffect, useMemo, useState } from "react";
import type { TaskRunRecord } from "../../../src/serialization/api-schemas.ts";
import { stateTone } from "../components/state.tsx";
import { formatDuration, formatTime } from "../format.ts";
import { FINISHED_STATES, taskRunKey } from "./run-data.ts";

const ROWS = 200;
const WAITING = new Set(["Pending", "Scheduled", "Submitted", "Retrying", "Paused"]);

/** Now, updated every second while `ticking`. */
export function useNow(ticking: boolean): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    if (!ticking) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [ticking]);
  return now;
}

interface Row {
  readonly key: string;
  readonly run: TaskRunRecord;
  readonly start: number | undefined;
  readonly end: number | undefined;
  readonly waitFrom: number | undefined;
  readonly waitTo: number | undefined;
}

export function Timeline(props: {
  taskRuns: readonly TaskRunRecord[];
  runStart: string | undefined;
  runEnd: string | undefined;
  live: boolean;
  onSelect: (slug: string) => void;
}) {
  const { taskRuns, runStart, runEnd, live, onSelect } = props;
  const now = useNow(live);
  const [shown, setShown] = useState(ROWS);
  const rows = useMemo(() => {
    const out: Row[] = [];
    for (const t of taskRuns) {
      const start = t.startTime === undefined ? undefined : Date.parse(t.startTime);
      const end =
        t.endTime !== undefined
          ? Date.parse(t.endTime)
          : FINISHED_STATES.has(t.state.type)
            ? Date.parse(t.state.timestamp)
            : undefined;
      let waitFrom: number | undefined;
      let waitTo: number | undefined;
      if (WAITING.has(t.state.type) && !FINISHED_STATES.has(t.state.type)) {
        waitFrom = Date.parse(t.state.timestamp);
        waitTo = t.state.retryAt === undefined ? undefined : Date.parse(t.state.retryAt);
      }
      out.push({ key: taskRunKey(t), run: t, start, end, waitFrom, waitTo });
    }
    out.sort((a, b) => (a.start ?? a.waitFrom ?? Infinity) - (b.start ?? b.waitFrom ?? Infinity));
    return out;
  }, [taskRuns]);

  const visible = rows.slice(0, shown);
  let from = runStart === undefined ? Number.POSITIVE_INFINITY : Date.parse(runStart);
  let to = runEnd === undefined ? now : Date.parse(runEnd);
  for (const r of rows) {
    const first = r.start ?? r.waitFrom;
    if (first !== undefined) from = Math.min(from, first);
    to = Math.max(to, r.end ?? r.waitTo ?? (r.start === undefined ? 0 : now));
  }
  if (!Number.isFinite(from)) from = now;
  const span = Math.max(to - from, 1);
  const pct = (t: number) => `${(((t - from) / span) * 100).toFixed(3)}%`;
  const width = (a: number, b: number) => `${Math.max(((b - a) / span) * 100, 0.25).toFixed(3)}%`;
  const ticks = [0, 0.25, 0.5, 0.75, 1];

  if (rows.length === 0) return <p className="muted">No task has started yet.</p>;
  return (
    <section className="timeline" aria-label="Timeline">
      <div className="timeline-axis" aria-hidden="true">
        <span className="timeline-label" />
        <div className="timeline-track">
          {ticks.map((f) => (
            <span key={f} className="timeline-tick" style={{ left: `${f * 100}%` }}>
              +{formatDuration(f * span)}
            </span>
          ))}
        </div>
      </div>
      <ul className="timeline-rows">
        {visible.map((r) => {
          const t = r.run;
          const tone = stateTone(t.state.type);
          const attempts = t.attempts > 1 ? ` · ${t.attempts} attempts` : "";
          const end = r.end ?? now;
          return (
            <li
              key={r.key}
              className="timeline-row"
              data-task-run={r.key}
              data-state={t.state.type}
            >
              <button
                type="button"
                className="timeline-label"
                onClick={() => onSelect(t.slug)}
                title={r.key}
              >
                {r.key}
              </button>
              <div className="timeline-track">
                {r.waitFrom !== undefined && (
                  <span
                    className={`timeline-wait state-${tone}`}
                    style={{ left: pct(r.waitFrom), width: width(r.waitFrom, r.waitTo ?? now) }}
                    title={`${t.state.type} since ${formatTime(t.state.timestamp)}${t.state.retryAt ? `, retry at ${formatTime(t.state.retryAt)}` : ""}`}
                  />
                )}
                {r.start !== undefined && (
                  <span
                    className={`timeline-bar state-${tone}`}
                    style={{ left: pct(r.start), width: width(r.start, Math.max(end, r.start)) }}
                    title={`${r.key}: ${t.state.type}, ${formatDuration(end - r.start)}${attempts}`}
                  >
                    {t.attempts > 1 && <span className="timeline-attempts">×{t.attempts}</span>}
                  </span>
                )}
              </div>
            </li>
          );
        })}
      </ul>
      {rows.length > shown && (
        <button type="button" className="run-more-button" onClick={() => setShown((n) => n + ROWS)}>
          Show more ({(rows.length - shown).toLocaleString("en-US")} more rows)
        </button>
      )}
      <p className="muted timeline-legend">
        Solid bars: running time (×N: attempts). Hatched: waiting (to start, to retry, for
        approval).
      </p>
    </section>
  );
}
