// Pieces of the flow pages: a schedule in words, a storage or environment in a few words,
// and the flow's graph (the run page's graph component, without states).
import type { FlowSummary } from "../../../src/serialization/api-schemas.ts";
import type { SerializedFlow, SerializedSchedule } from "../../../src/serialization/schemas.ts";
import { FlowGraph } from "../components/flow-graph.tsx";
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

/** The graph, laid out (components/flow-graph.tsx), with a line of what it holds. */
export function FlowGraphPanel({ flow }: { flow: SerializedFlow }) {
  return (
    <div>
      <p className="muted">
        {flow.tasks.length} tasks, {flow.edges.length} edges; reference tasks:{" "}
        {flow.referenceTasks.join(", ") || "–"}
      </p>
      <FlowGraph graph={flow} />
    </div>
  );
}
