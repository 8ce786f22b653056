// Pieces of the flow pages: a schedule in words, a storage or environment in a few words,
// and the flow's graph as lists of tasks and edges (until the run page's graph component
// lands on this branch; the run page draws the laid-out graph).
import type { FlowSummary } from "../../../src/serialization/api-schemas.ts";
import type { SerializedFlow, SerializedSchedule } from "../../../src/serialization/schemas.ts";
import { formatDuration, formatTime } from "../format.ts";

/** A schedule in one line. */
export function scheduleText(schedule: SerializedSchedule | undefined): string {
  if (schedule === undefined) return "none (runs start when asked)";
  switch (schedule.type) {
    case "cron":
      return `cron ${schedule.expression} (${schedule.timezone})`;
    case "interval":
      return `every ${formatDuration(schedule.every)}${schedule.start ? ` from ${formatTime(schedule.start)}` : ""}`;
    case "dates":
      return `${schedule.dates.length} date(s)`;
  }
}

/** A storage or environment: its type and, where it has one, its main setting. */
export function kindText(kind: FlowSummary["storage"]): string {
  if (kind === undefined) return "–";
  const extra = ["path", "bucket", "repository", "url", "image", "namespace"]
    .map((k) => (kind as Record<string, unknown>)[k])
    .find((v) => typeof v === "string");
  return extra === undefined ? kind.type : `${kind.type} (${String(extra)})`;
}

/** The graph as a list: each task with its kind and what it waits for. */
export function GraphList({ flow }: { flow: SerializedFlow }) {
  const upstream = new Map<string, string[]>();
  for (const e of flow.edges) {
    const list = upstream.get(e.downstream) ?? [];
    list.push(
      e.key === "after"
        ? `${e.upstream} (after)`
        : e.mapped
          ? `${e.upstream} (mapped)`
          : e.upstream,
    );
    upstream.set(e.downstream, list);
  }
  return (
    <div>
      <p className="muted">
        {flow.tasks.length} tasks, {flow.edges.length} edges; reference tasks:{" "}
        {flow.referenceTasks.join(", ") || "–"}
      </p>
      <ol className="graph-list">
        {flow.tasks.map((t) => (
          <li key={t.slug} data-task-slug={t.slug}>
            <span className="mono">{t.slug}</span>{" "}
            <span className="muted">
              {t.kind}
              {t.mapped ? ", mapped" : ""}
              {upstream.has(t.slug) ? ` ← ${upstream.get(t.slug)!.join(", ")}` : ""}
            </span>
          </li>
        ))}
      </ol>
    </div>
  );
}
