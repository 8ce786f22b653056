// Run health's queries and its one write, for RunRepository.findStale and
// recoverStale (kept apart only for the size of run-repository.ts).
//
// A run is stale in one of four ways (StaleReason). Finding is a read, acting is
// a versioned write: `recoverStaleRun` re-reads the row locked in the caller's
// transaction and does nothing when its version is not the one found, so a run
// that started, sent a state or was claimed again meanwhile is left alone, and
// run health on several replicas acts on a run once. A reschedule counts against
// `maxReschedules` (then the run fails); a run its agent does not hold
// ("not-held": the claim's answer was lost) goes back without counting.

import { type Kysely, sql } from "kysely";
import type { FlowRunRecord } from "../../serialization/api-schemas.ts";
import { crashReasonOf } from "../../serialization/crash-report.ts";
import { type FlowRunRow, toFlowRunRecord } from "./records.ts";
import { applyRunState } from "./run-state-write.ts";
import { type SqlContext, serverState } from "./sql-context.ts";
import type { Tables } from "./tables.ts";

/**
 * Why a run was taken back from its agent: submitted but never started, its own
 * heartbeats stopped, its agent's heartbeats stopped, or its agent reported
 * that it does not hold it (the claim's answer never reached the agent).
 */
export type StaleReason = "never-started" | "heartbeat-lost" | "agent-lost" | "not-held";

/** A run that run health found stale. */
export interface StaleRun {
  readonly run: FlowRunRecord;
  readonly reason: StaleReason;
}

/** The limits of RunRepository.findStale; one left out finds nothing of its kind. */
export interface StaleLimits {
  submittedBefore?: Date | undefined;
  heartbeatBefore?: Date | undefined;
  agentSeenBefore?: Date | undefined;
}

/** The stale runs, each once, for its most telling reason. */
export async function findStaleRuns(ctx: SqlContext, limits: StaleLimits): Promise<StaleRun[]> {
  const none = Promise.resolve([] as FlowRunRow[]);
  const lastHeard = sql<string>`coalesce(flow_runs.heartbeat_at, flow_runs.start_time, flow_runs.state_at)`;
  const { submittedBefore, heartbeatBefore, agentSeenBefore } = limits;
  const [agentLost, lost, never] = await Promise.all([
    agentSeenBefore === undefined
      ? none
      : ctx.db
          .selectFrom("flow_runs")
          .innerJoin("agents", "agents.id", "flow_runs.agent_id")
          .selectAll("flow_runs")
          .where("agents.last_seen", "<", agentSeenBefore.toISOString())
          .where((eb) =>
            eb.or([
              eb("flow_runs.state_type", "=", "Submitted"),
              eb.and([
                eb("flow_runs.state_type", "in", ["Running", "Cancelling"]),
                eb(lastHeard, "<", agentSeenBefore.toISOString()),
              ]),
            ]),
          )
          .orderBy("flow_runs.state_at")
          .execute(),
    heartbeatBefore === undefined
      ? none
      : ctx.db
          .selectFrom("flow_runs")
          .selectAll()
          .where("state_type", "in", ["Running", "Cancelling"])
          .where(lastHeard, "<", heartbeatBefore.toISOString())
          .orderBy("state_at")
          .execute(),
    submittedBefore === undefined
      ? none
      : ctx.db
          .selectFrom("flow_runs")
          .selectAll()
          .where("state_type", "=", "Submitted")
          .where("state_at", "<", submittedBefore.toISOString())
          .orderBy("state_at")
          .execute(),
  ]);
  // A run stale in more than one way is acted on once, for the most telling reason.
  const found = new Map<string, StaleRun>();
  const add = (rows: FlowRunRow[], reason: StaleRun["reason"]) => {
    for (const r of rows)
      if (!found.has(r.id)) found.set(r.id, { run: toFlowRunRecord(r), reason });
  };
  add(agentLost, "agent-lost");
  add(lost, "heartbeat-lost");
  add(never, "never-started");
  return [...found.values()];
}

/**
 * Inside `trx`: reschedules, cancels or fails a stale run, or returns undefined
 * when it is gone or moved on since it was found.
 */
export async function recoverStaleRun(
  ctx: SqlContext,
  trx: Kysely<Tables>,
  stale: StaleRun,
  maxReschedules: number,
): Promise<FlowRunRow | undefined> {
  const now = ctx.now();
  const row = await trx
    .selectFrom("flow_runs")
    .selectAll()
    .where("id", "=", stale.run.id)
    .$if(ctx.dialect === "postgres", (q) => q.forUpdate())
    .executeTakeFirst();
  // Gone, or moved on since it was found (it started, sent a state, was claimed again…).
  if (row === undefined || row.version !== stale.run.version) return undefined;
  const agentRow =
    row.agent_id === null
      ? undefined
      : await trx
          .selectFrom("agents")
          .select(["name", "last_seen"])
          .where("id", "=", row.agent_id)
          .executeTakeFirst();
  const agentName = agentRow === undefined ? `agent ${row.agent_id}` : `agent "${agentRow.name}"`;
  const agent = row.agent_id === null ? "" : ` by ${agentName}`;
  const started = row.state_type !== "Submitted";
  const found =
    stale.reason === "never-started"
      ? `it was submitted${agent} at ${row.state_at} but never started`
      : stale.reason === "agent-lost"
        ? `its ${agentName} stopped sending heartbeats (last seen ${agentRow?.last_seen ?? "never"}) ${started ? "while it ran" : "before starting it"}`
        : stale.reason === "not-held"
          ? `${agentName} does not hold it: the answer to its claim at ${row.state_at} never reached the agent`
          : `its heartbeats stopped (last ${row.heartbeat_at ?? row.start_time ?? row.state_at})`;
  const crash = await lastCrash(trx, row);
  const what = crash === undefined ? found : `${found} after the flow-run process died: ${crash}`;
  if (stale.reason === "not-held") {
    // Not the run's fault, nor a try: it goes back as it was, without counting a reschedule.
    return applyRunState(
      trx,
      row,
      serverState("Scheduled", now, `given back by the server: ${what}`),
      ctx.now(),
      { scheduled_start: now },
    );
  }
  if (row.state_type === "Cancelling") {
    return applyRunState(
      trx,
      row,
      serverState("Cancelled", now, `cancelled by run health: ${what} while cancelling`),
      ctx.now(),
    );
  }
  if (row.reschedule_count < maxReschedules) {
    const count = row.reschedule_count + 1;
    return applyRunState(
      trx,
      row,
      serverState(
        "Scheduled",
        now,
        `rescheduled by run health (${count} of ${maxReschedules}): ${what}`,
      ),
      ctx.now(),
      { reschedule_count: count, scheduled_start: now, start_time: null },
    );
  }
  return applyRunState(
    trx,
    row,
    serverState(
      "Failed",
      now,
      `failed by run health: ${what}; rescheduled ${row.reschedule_count} time(s) already (max ${maxReschedules})`,
    ),
    ctx.now(),
  );
}

/**
 * Why the run's process died in its current attempt, when its agent wrote it to the run's logs
 * (a crashed run gets no final state: crash-report.ts), so run health's message names it.
 */
async function lastCrash(trx: Kysely<Tables>, row: FlowRunRow): Promise<string | undefined> {
  // Only an attempt that started has a process that could die (its start bounds the search).
  if (row.start_time === null) return undefined;
  const since = Date.parse(row.start_time);
  const lines = await trx
    .selectFrom("logs")
    .select("message")
    .where("flow_run_id", "=", row.id)
    .where("level", "=", "error")
    .where("task_slug", "is", null)
    .where("time", ">=", Number.isNaN(since) ? 0 : since)
    .orderBy("id", "desc")
    .limit(20)
    .execute();
  for (const { message } of lines) {
    const reason = crashReasonOf(message);
    if (reason !== undefined) return reason;
  }
  return undefined;
}
