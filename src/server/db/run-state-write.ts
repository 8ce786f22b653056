// The one versioned write of a flow run's state, used by every path that moves a
// run (the API's state writes, cancel, and run health's recovery; claims write
// many rows at once in one conditional update of their own, run-repository.ts).
//
// Invariant: a run's `version` and its history (`flow_run_states`, one row per
// version) move together. The row is read (locked on PostgreSQL) in the caller's
// transaction, the update is conditional on the version read, and the new state
// is appended to the history in the same transaction, so the history holds
// exactly one state per version and no two writers both win a version. A run
// that finishes or goes back to Scheduled frees its concurrency slots in the same
// write (limit-repository.ts).
import type { Kysely } from "kysely";
import { WeftError } from "../../core/errors.ts";
import { isStateA, type StateType } from "../../core/states.ts";
import type { SerializedState } from "../../serialization/schemas.ts";
import { releaseRunSlots } from "./limit-repository.ts";
import { type FlowRunRow, isoText } from "./records.ts";
import { type SqlContext, sameState } from "./sql-context.ts";
import type { FlowRunsTable, Tables } from "./tables.ts";
import { transitionError } from "./transitions.ts";

type StateChange = Partial<FlowRunsTable> & { state: string; state_type: string; version: number };

/** The columns a state write changes, besides extra ones the caller gives. */
function stateChange(row: FlowRunRow, next: SerializedState, now: string): StateChange {
  const to = next.type;
  const change: StateChange = {
    state: JSON.stringify(next),
    state_type: to,
    state_at: now,
    version: row.version + 1,
  };
  if (to === "Running" && row.start_time === null) {
    change.start_time = isoText(next.startedAt ?? next.timestamp, "state.startedAt");
    change.heartbeat_at = now;
  }
  if (isStateA(to, "Finished")) change.end_time = isoText(next.timestamp, "state.timestamp");
  if (isStateA(to, "Scheduled")) {
    // Back to waiting: no agent holds it; a Retrying state says when it is due again.
    change.agent_id = null;
    change.heartbeat_at = null;
    if (next.retryAt !== undefined) change.scheduled_start = isoText(next.retryAt, "state.retryAt");
  }
  return change;
}

/**
 * Applies a checked state change to a row read (and locked) in `trx` and
 * records it in the history; STALE_VERSION if another write came first.
 */
export async function applyRunState(
  trx: Kysely<Tables>,
  row: FlowRunRow,
  next: SerializedState,
  now: string,
  extra: Partial<FlowRunsTable> = {},
): Promise<FlowRunRow> {
  const change = { ...stateChange(row, next, now), ...extra };
  const updated = await trx
    .updateTable("flow_runs")
    .set(change)
    .where("id", "=", row.id)
    .where("version", "=", row.version)
    .returningAll()
    .executeTakeFirst();
  if (updated === undefined) {
    // Only a concurrent writer that slipped past the lock could cause this.
    throw new WeftError(
      "STALE_VERSION",
      `flow run ${row.id}: version ${row.version} is stale, another write came first`,
      { hint: "read the run again and retry with its current version" },
    );
  }
  await trx
    .insertInto("flow_run_states")
    .values({
      flow_run_id: row.id,
      version: updated.version,
      state: updated.state,
      created_at: now,
    })
    .execute();
  // A run that stopped running (finished, or put back to wait) holds no concurrency slot.
  if (isStateA(next.type, "Finished") || isStateA(next.type, "Scheduled"))
    await releaseRunSlots(trx, row.id);
  return updated;
}

/**
 * A client's state write of run `id` inside `trx`: refused unless `version` is the
 * run's current row version (STALE_VERSION; the same write again at `version` + 1
 * is accepted and changes nothing) and the transition is valid (INVALID_TRANSITION).
 * Answers the run's row after the write.
 */
export async function writeRunState(
  ctx: SqlContext,
  trx: Kysely<Tables>,
  id: string,
  next: SerializedState,
  version: number,
): Promise<FlowRunRow> {
  const row = await ctx.runRow(id, trx, true);
  if (row.version !== version) {
    if (version < row.version) {
      const applied = await trx
        .selectFrom("flow_run_states")
        .select("state")
        .where("flow_run_id", "=", id)
        .where("version", "=", version + 1)
        .executeTakeFirst();
      // The same write again (a retry): accepted, nothing changes.
      if (applied !== undefined && sameState(applied.state, next)) return row;
    }
    throw new WeftError(
      "STALE_VERSION",
      `flow run ${id}: version ${version} is stale, the run is at version ${row.version} (${row.state_type})`,
      { hint: "read the run again and retry with its current version" },
    );
  }
  const why = transitionError(row.state_type as StateType, next.type);
  if (why !== undefined) {
    throw new WeftError(
      "INVALID_TRANSITION",
      `flow run ${id} cannot go from ${row.state_type} to ${next.type}: ${why}`,
    );
  }
  return applyRunState(trx, row, next, ctx.now());
}
