import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import { WeftError } from "../../core/errors.ts";
import { isStateA, type StateType } from "../../core/states.ts";
import type { TaskRunStateWrite } from "../../serialization/api-schemas.ts";
import type { StoreConnection } from "./connection.ts";
import { canonicalJson } from "./content-hash.ts";
import type { Database } from "./database.ts";
import { chunks, isoText, type TaskRunRow } from "./store-records.ts";
import { transitionError } from "./transitions.ts";

// The task-run batch: read every touched row in a few queries, decide in JS, write
// with multi-row statements. One transaction, all or none.

const TASK_RUN_COLUMNS = 11;
const HISTORY_COLUMNS = 4;

interface Current {
  row: TaskRunRow;
  /** Written by this batch (so it is upserted). */
  dirty: boolean;
  /** States this batch gave it, by the version they produced (for in-batch duplicates). */
  applied?: Map<number, string>;
}

function describe(w: TaskRunStateWrite): string {
  const index = w.mapIndex === undefined ? "" : `[${w.mapIndex}]`;
  return `task run ${w.slug}${index} of flow run ${w.flowRunId}`;
}

function keyOf(flowRunId: string, slug: string, mapIndex: number): string {
  return `${flowRunId}\u0000${slug}\u0000${mapIndex}`;
}

/**
 * Applies `writes` in order inside the transaction `trx` and returns the version
 * each one produced. Throws (and so rolls back the whole batch) on an unknown
 * flow run, a stale claim or version, or an invalid transition. A write that was
 * already applied (its version + 1 holds the same state in the history) is
 * accepted again and changes nothing.
 */
export async function applyTaskRunStates(
  connection: StoreConnection,
  trx: Kysely<Database>,
  writes: readonly TaskRunStateWrite[],
  now: string,
): Promise<number[]> {
  const runIds = [...new Set(writes.map((w) => w.flowRunId))];
  // Lock the flow runs so concurrent batches of one run (and claims) serialize.
  const runs = new Map<string, { claim: number }>();
  for (const ids of chunks(runIds, connection.maxParameters)) {
    const rows = await trx
      .selectFrom("flow_runs")
      .select(["id", "claim_count"])
      .where("id", "in", ids)
      .$if(connection.dialect === "postgres", (q) => q.forUpdate())
      .execute();
    for (const r of rows) runs.set(r.id, { claim: r.claim_count });
  }
  for (const id of runIds) {
    if (!runs.has(id))
      throw new WeftError("FLOW_RUN_NOT_FOUND", `flow run ${id} does not exist`, {
        hint: "task-run states belong to a flow run created through the API",
      });
  }

  const current = new Map<string, Current>();
  for (const runId of runIds) {
    const slugs = [...new Set(writes.filter((w) => w.flowRunId === runId).map((w) => w.slug))];
    for (const part of chunks(slugs, connection.maxParameters - 1)) {
      const rows = await trx
        .selectFrom("task_runs")
        .selectAll()
        .where("flow_run_id", "=", runId)
        .where("slug", "in", part)
        .execute();
      for (const row of rows)
        current.set(keyOf(row.flow_run_id, row.slug, row.map_index), { row, dirty: false });
    }
  }

  const versions: number[] = new Array(writes.length);
  const history: { task_run_id: string; version: number; state: string; created_at: string }[] = [];
  // Writes whose version is behind: accepted only if the history shows them applied.
  const repeats: { index: number; taskRunId: string; version: number }[] = [];

  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!;
    const run = runs.get(w.flowRunId)!;
    if (w.claim !== undefined && w.claim !== run.claim) {
      throw new WeftError(
        "STALE_VERSION",
        `${describe(w)}: claim ${w.claim} is stale, the flow run was claimed again (claim ${run.claim})`,
        { hint: "this flow-run process was superseded by a rescheduled run: stop it" },
      );
    }
    const mapIndex = w.mapIndex ?? -1;
    const key = keyOf(w.flowRunId, w.slug, mapIndex);
    const cur = current.get(key);
    const curVersion = cur?.row.version ?? 0;
    if (w.version !== curVersion) {
      if (cur !== undefined && w.version < curVersion) {
        const inBatch = cur.applied?.get(w.version + 1);
        if (inBatch !== undefined) {
          if (canonicalJson(JSON.parse(inBatch)) !== canonicalJson(w.state))
            throw staleTaskRun(w, curVersion);
        } else {
          repeats.push({ index: i, taskRunId: cur.row.id, version: w.version + 1 });
        }
        versions[i] = w.version + 1;
        continue;
      }
      throw staleTaskRun(w, curVersion);
    }
    const to = w.state.type;
    const why = transitionError(cur?.row.state_type as StateType | undefined, to);
    if (why !== undefined) {
      throw new WeftError(
        "INVALID_TRANSITION",
        `${describe(w)} cannot go from ${cur?.row.state_type} to ${to}: ${why}`,
      );
    }
    const stateText = JSON.stringify(w.state);
    const time = isoText(w.state.timestamp);
    const version = curVersion + 1;
    const row: TaskRunRow = cur?.row ?? {
      id: randomUUID(),
      flow_run_id: w.flowRunId,
      slug: w.slug,
      map_index: mapIndex,
      state_type: to,
      state: stateText,
      version: 0,
      attempts: 0,
      start_time: null,
      end_time: null,
      result_ref: null,
    };
    row.state_type = to;
    row.state = stateText;
    row.version = version;
    if (w.state.attempts !== undefined) row.attempts = w.state.attempts;
    if (to === "Running" && row.start_time === null) row.start_time = time;
    if (w.state.startedAt !== undefined && row.start_time === null)
      row.start_time = isoText(w.state.startedAt);
    if (isStateA(to, "Finished")) row.end_time = time;
    if (w.resultRef !== undefined) row.result_ref = w.resultRef;
    const entry: Current = cur ?? { row, dirty: true };
    entry.dirty = true;
    entry.applied ??= new Map();
    entry.applied.set(version, stateText);
    current.set(key, entry);
    history.push({ task_run_id: row.id, version, state: stateText, created_at: now });
    versions[i] = version;
  }

  if (repeats.length > 0) await checkRepeats(connection, trx, writes, repeats);

  const dirty = [...current.values()].filter((c) => c.dirty).map((c) => c.row);
  for (const part of chunks(dirty, Math.floor(connection.maxParameters / TASK_RUN_COLUMNS))) {
    await trx
      .insertInto("task_runs")
      .values(part)
      .onConflict((oc) =>
        oc.columns(["flow_run_id", "slug", "map_index"]).doUpdateSet({
          state_type: (eb) => eb.ref("excluded.state_type"),
          state: (eb) => eb.ref("excluded.state"),
          version: (eb) => eb.ref("excluded.version"),
          attempts: (eb) => eb.ref("excluded.attempts"),
          start_time: (eb) => eb.ref("excluded.start_time"),
          end_time: (eb) => eb.ref("excluded.end_time"),
          result_ref: (eb) => eb.ref("excluded.result_ref"),
        }),
      )
      .execute();
  }
  for (const part of chunks(history, Math.floor(connection.maxParameters / HISTORY_COLUMNS))) {
    await trx.insertInto("task_run_states").values(part).execute();
  }
  return versions;
}

function staleTaskRun(w: TaskRunStateWrite, current: number): WeftError {
  return new WeftError(
    "STALE_VERSION",
    `${describe(w)}: version ${w.version} is stale, the task run is at version ${current}`,
    { hint: "read the task run again and retry with its current version" },
  );
}

/** Accepts writes that are repeats of applied ones (same state at version + 1), else STALE_VERSION. */
async function checkRepeats(
  connection: StoreConnection,
  trx: Kysely<Database>,
  writes: readonly TaskRunStateWrite[],
  repeats: readonly { index: number; taskRunId: string; version: number }[],
): Promise<void> {
  const applied = new Map<string, string>();
  const ids = [...new Set(repeats.map((r) => r.taskRunId))];
  for (const part of chunks(ids, connection.maxParameters)) {
    const rows = await trx
      .selectFrom("task_run_states")
      .select(["task_run_id", "version", "state"])
      .where("task_run_id", "in", part)
      .execute();
    for (const r of rows) applied.set(`${r.task_run_id}\u0000${r.version}`, r.state);
  }
  for (const r of repeats) {
    const w = writes[r.index]!;
    const state = applied.get(`${r.taskRunId}\u0000${r.version}`);
    if (state === undefined || canonicalJson(JSON.parse(state)) !== canonicalJson(w.state)) {
      throw new WeftError(
        "STALE_VERSION",
        `${describe(w)}: version ${w.version} is stale and its version ${r.version} holds another state`,
        { hint: "read the task run again and retry with its current version" },
      );
    }
  }
}
