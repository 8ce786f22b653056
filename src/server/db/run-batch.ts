// Writes of many runs in one transaction (POST /api/run-writes): an agent running many
// short runs sends their flow-run states, task-run states and logs together, so a run
// costs a share of one request and one transaction instead of several of each.
//
// Contract: each write is applied whole or refused alone, in order. A write runs inside a
// savepoint; a write refused for what it says (a stale version or claim, an invalid
// transition, an unknown run, a bad time) rolls back to its savepoint and answers its
// error, and the others go on, so one lost run never fails the runs batched beside it.
// The later writes of a run one write refused are not applied (RUN_WRITE_SKIPPED): a
// client may send a run's writes in one batch (its Running state, task states and final
// state) as it would one after the other, each only if the one before it was taken, and
// send the skipped ones again once it dealt with the refusal.
// A failure of the database itself (anything that is not a WeftError, or
// DATABASE_UNAVAILABLE) fails the whole batch, which the client retries.
// On PostgreSQL the batch first locks every run it names, in id order (as the agent
// heartbeat does), so that it cannot deadlock with another many-run transaction.
// Each write keeps the rules of its single-write route: flow-run states are
// versioned and checked against the state tree (run-state-write.ts), task-run states
// are a batch of their own, all or none (task-run-batch.ts), logs name existing runs.
import { type Kysely, sql } from "kysely";
import { isWeftError } from "../../core/errors.ts";
import { isStateA, type StateType } from "../../core/states.ts";
import type { RunWrite, RunWriteResult } from "../../serialization/api-schemas.ts";
import type { ChangeFeed } from "./change-feed.ts";
import { insertLogs, type LogRow } from "./log-repository.ts";
import { chunks, type FlowRunRow, type TaskRunRow } from "./records.ts";
import { writeRunState } from "./run-state-write.ts";
import type { SqlContext } from "./sql-context.ts";
import type { Tables } from "./tables.ts";
import { applyTaskRunStates, type ChangedTaskRuns } from "./task-run-batch.ts";

/** The HTTP status of a refused write's code (the same as its single-write route's). */
export type StatusOfCode = (code: string) => number;

/** What a batch did: one result per write, and whether a run became claimable. */
export interface RunBatchOutcome {
  readonly results: RunWriteResult[];
  readonly rescheduled: boolean;
  /** What the change feed gets once the batch committed: the writes applied, not those refused. */
  readonly changed: BatchChanges;
}

/** Rows a batch changed that someone follows (the API's event streams). */
export interface BatchChanges {
  readonly runs: FlowRunRow[];
  readonly taskRuns: TaskRunRow[];
  readonly logs: LogRow[];
}

/** Applies `writes` in one transaction, each whole or refused alone (see the header). */
export function applyRunWrites(
  ctx: SqlContext,
  writes: readonly RunWrite[],
  statusOf: StatusOfCode,
  feed?: ChangeFeed,
): Promise<RunBatchOutcome> {
  return ctx.write(async (trx) => {
    await lockRuns(ctx, trx, writes);
    const results: RunWriteResult[] = new Array(writes.length);
    let rescheduled = false;
    // Made inside the transaction's callback: a retried transaction starts with none.
    const changed: BatchChanges = { runs: [], taskRuns: [], logs: [] };
    /** Runs with a refused write in this batch: their later writes are skipped. */
    const refused = new Set<string>();
    for (let i = 0; i < writes.length; i++) {
      const write = writes[i]!;
      const skippedFor = refused.size === 0 ? undefined : runsOf(write).find((r) => refused.has(r));
      if (skippedFor !== undefined) {
        results[i] = {
          ok: false,
          status: statusOf("RUN_WRITE_SKIPPED"),
          error: {
            code: "RUN_WRITE_SKIPPED",
            message: `flow run ${skippedFor}: not applied, an earlier write of this run in the batch was refused`,
            hint: "send it again once the refused write is dealt with",
          },
        };
        continue;
      }
      await sql`savepoint w`.execute(trx);
      try {
        const one: BatchChanges = { runs: [], taskRuns: [], logs: [] };
        results[i] = await applyOne(ctx, trx, write, feed, one);
        await sql`release savepoint w`.execute(trx);
        changed.runs.push(...one.runs);
        changed.taskRuns.push(...one.taskRuns);
        changed.logs.push(...one.logs);
        if (write.kind === "flowRunState" && isStateA(write.state.type as StateType, "Scheduled"))
          rescheduled = true;
      } catch (error) {
        if (!isWeftError(error) || error.code === "DATABASE_UNAVAILABLE") throw error;
        await sql`rollback to savepoint w`.execute(trx);
        await sql`release savepoint w`.execute(trx);
        for (const r of runsOf(write)) refused.add(r);
        results[i] = {
          ok: false,
          status: statusOf(error.code),
          error: {
            code: error.code,
            message: error.message,
            ...(error.hint === undefined ? {} : { hint: error.hint }),
          },
        };
      }
    }
    return { results, rescheduled, changed };
  });
}

/** The flow runs a write touches. */
function runsOf(write: RunWrite): string[] {
  if (write.kind === "flowRunState") return [write.flowRunId];
  const ids = new Set<string>();
  if (write.kind === "taskRunStates") for (const t of write.states) ids.add(t.flowRunId);
  else for (const l of write.logs) ids.add(l.flowRunId);
  return [...ids];
}

/**
 * PostgreSQL: locks every run the batch names up front, in id order, as the agent
 * heartbeat does (agent-repository.ts), so that two transactions touching many runs
 * take their locks in one order and cannot deadlock. SQLite has one writer.
 */
async function lockRuns(
  ctx: SqlContext,
  trx: Kysely<Tables>,
  writes: readonly RunWrite[],
): Promise<void> {
  if (ctx.dialect !== "postgres") return;
  const ids = new Set<string>();
  for (const w of writes) for (const r of runsOf(w)) ids.add(r);
  const sorted = [...ids].sort();
  for (const part of chunks(sorted, ctx.connection.maxParameters)) {
    await trx
      .selectFrom("flow_runs")
      .select("id")
      .where("id", "in", part)
      .orderBy("id")
      .forUpdate()
      .execute();
  }
}

/** Applies one write; what it changed that `feed` wants goes to `changed`. */
async function applyOne(
  ctx: SqlContext,
  trx: Kysely<Tables>,
  write: RunWrite,
  feed: ChangeFeed | undefined,
  changed: BatchChanges,
): Promise<RunWriteResult> {
  switch (write.kind) {
    case "flowRunState": {
      const row = await writeRunState(ctx, trx, write.flowRunId, write.state, write.version);
      if (feed?.wantsRun(row.id)) changed.runs.push(row);
      return { ok: true, version: row.version };
    }
    case "taskRunStates": {
      const wanted: ChangedTaskRuns | undefined = feed?.wantsRun()
        ? { wants: (id) => feed.wantsTasks(id), rows: changed.taskRuns }
        : undefined;
      return {
        ok: true,
        versions: await applyTaskRunStates(ctx.connection, trx, write.states, wanted),
      };
    }
    case "logs": {
      const wants = feed === undefined ? undefined : (id: string) => feed.wantsTasks(id);
      changed.logs.push(...(await insertLogs(ctx.connection, trx, write.logs, wants)));
      return { ok: true, count: write.logs.length };
    }
  }
}
