// Why a Scheduled run waits, in one sentence: the reason `weft runs inspect` prints and the
// web UI's dashboard shows (through GET /api/dashboard). Pure: it reads the run, the agents
// and how many runs each holds, so the CLI (from API answers) and the server (from SQL
// aggregates) explain a run with the same words.
import type { AgentRecord, FlowRunRecord } from "./api-schemas.ts";

/** What explaining a pending run needs to know besides the run. */
export interface PendingFacts {
  readonly agents: readonly AgentRecord[];
  /** Runs each agent holds now (Submitted or Running), by agent id. */
  readonly busy: ReadonlyMap<string, number>;
  readonly now: Date;
  /** An agent unseen for longer than this is not live. @default 30000 */
  readonly liveWindowMs?: number;
}

/**
 * Why a Scheduled run has not started, in one sentence; undefined when it is
 * not waiting (any other state). The reasons, checked in this order: its
 * scheduled start is in the future; no live agent carries all its labels; every
 * such agent is busy; otherwise it is due now and an agent should take it soon.
 */
export function explainPending(run: FlowRunRecord, facts: PendingFacts): string | undefined {
  if (run.state.type !== "Scheduled") return undefined;
  const due = Date.parse(run.scheduledStart);
  if (due > facts.now.getTime()) {
    return `not yet due: scheduled for ${run.scheduledStart} (in ${formatDuration(due - facts.now.getTime())})`;
  }
  const window = facts.liveWindowMs ?? 30_000;
  const live = facts.agents.filter((a) => facts.now.getTime() - Date.parse(a.lastSeen) <= window);
  const matching = live.filter((a) => run.labels.every((l) => a.labels.includes(l)));
  const wanted = run.labels.length === 0 ? "any labels" : `labels [${run.labels.join(", ")}]`;
  if (matching.length === 0) {
    const hint =
      live.length === 0
        ? "no agent is live at all"
        : `live agents: ${live.map((a) => `${a.name} [${a.labels.join(", ")}]`).join("; ")}`;
    return `no live agent carries ${wanted} (${hint}); start one with \`weft agent start --labels ${run.labels.join(",") || "…"}\``;
  }
  if (matching.every((a) => (facts.busy.get(a.id) ?? 0) >= a.concurrency)) {
    return `every agent that carries ${wanted} is busy: ${matching.map((a) => `${a.name} runs ${facts.busy.get(a.id) ?? 0}/${a.concurrency}`).join(", ")}`;
  }
  return `due since ${run.scheduledStart}; ${matching.length} live agent(s) can take it and should soon`;
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s} s`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m} min` : `${Math.round(m / 60)} h`;
}
