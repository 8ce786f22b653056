import { type Insertable, type Kysely, sql } from "kysely";
import { WeftError } from "../../core/errors.ts";
import { isStateA, type StateType } from "../../core/states.ts";
import type { TaskRunStateWrite } from "../../serialization/api-schemas.ts";
import type { BulkType, DbConnection } from "./connection.ts";
import { canonicalJson } from "./content-hash.ts";
import { releaseTaskRunSlots } from "./limit-repository.ts";
import { chunks, isoText, type TaskRunRow } from "./records.ts";
import type { Tables, TaskRunsTable } from "./tables.ts";
import { transitionError } from "./transitions.ts";

// The task-run batch: read every touched row in one query per flow run, decide in
// JS, write each touched task run once with one upsert whose rows are bound as
// arrays (see DbConnection.selectRows): a constant, short statement whatever the
// batch size, so nothing nears a parameter limit and SQLite reuses the prepared
// statement. One transaction, all or none. When the caller asks (someone follows a
// run's events), the upsert also returns the rows' ids, so the changed task runs can
// be published as records after the commit without another query.

type NewRow = Insertable<TaskRunsTable>;

interface Touched {
  row: NewRow & { version: number; state_type: string; history: string };
}

function describe(w: TaskRunStateWrite): string {
  const index = w.mapIndex === undefined ? "" : `[${w.mapIndex}]`;
  return `task run ${w.slug}${index} of flow run ${w.flowRunId}`;
}

function keyOf(flowRunId: string, slug: string, mapIndex: number): string {
  return `${flowRunId}\u0000${slug}\u0000${mapIndex}`;
}

function stale(w: TaskRunStateWrite, current: number, why = ""): WeftError {
  return new WeftError(
    "STALE_VERSION",
    `${describe(w)}: version ${w.version} is stale, the task run is at version ${current}${why}`,
    { hint: "read the task run again and retry with its current version" },
  );
}

/**
 * Applies `writes` in order inside the transaction `trx` and returns the version
 * each one produced. Throws (and so rolls back the whole batch) on an unknown
 * flow run, a stale claim or version, or an invalid transition. A write that was
 * already applied (the history holds the same state at its version + 1) is
 * accepted again and changes nothing, so a retried batch is idempotent.
 */
export async function applyTaskRunStates(
  connection: DbConnection,
  trx: Kysely<Tables>,
  writes: readonly TaskRunStateWrite[],
  changes?: ChangedTaskRuns,
): Promise<number[]> {
  const runIds = [...new Set(writes.map((w) => w.flowRunId))];
  // Lock the flow runs, so that concurrent batches of one run (and claims) serialize.
  const claims = new Map<string, number>();
  for (const ids of chunks(runIds, connection.maxParameters)) {
    const rows = await trx
      .selectFrom("flow_runs")
      .select(["id", "claim_count"])
      .where("id", "in", ids)
      .$if(connection.dialect === "postgres", (q) => q.forUpdate())
      .execute();
    for (const r of rows) claims.set(r.id, r.claim_count);
  }
  for (const id of runIds) {
    if (!claims.has(id))
      throw new WeftError("FLOW_RUN_NOT_FOUND", `flow run ${id} does not exist`, {
        hint: "task-run states belong to a flow run created through the API",
      });
  }

  // The touched task runs: per flow run, rows whose slug and map index are among
  // those written (a superset only when several mapped slugs mix index ranges; rows
  // that were not asked for are dropped here).
  const touched = new Map<string, Touched>();
  for (const runId of runIds) {
    const keys = new Set<string>();
    const slugs = new Set<string>();
    const indexes = new Set<number>();
    for (const w of writes) {
      if (w.flowRunId !== runId) continue;
      const mapIndex = w.mapIndex ?? -1;
      keys.add(keyOf(runId, w.slug, mapIndex));
      slugs.add(w.slug);
      indexes.add(mapIndex);
    }
    const rows = await trx
      .selectFrom("task_runs")
      .selectAll()
      .where("flow_run_id", "=", runId)
      .where(connection.inList(sql.ref("slug"), [...slugs], "text"))
      .where(connection.inList(sql.ref("map_index"), [...indexes], "integer"))
      .execute();
    for (const { id: _id, ...row } of rows) {
      const key = keyOf(row.flow_run_id, row.slug, row.map_index);
      if (keys.has(key)) touched.set(key, { row });
    }
  }

  const versions: number[] = new Array(writes.length);
  const changed = new Set<Touched>();
  for (let i = 0; i < writes.length; i++) {
    const w = writes[i]!;
    const claim = claims.get(w.flowRunId)!;
    if (w.claim !== undefined && w.claim !== claim) {
      throw new WeftError(
        "STALE_VERSION",
        `${describe(w)}: claim ${w.claim} is stale, the flow run was claimed again (claim ${claim})`,
        { hint: "this flow-run process was superseded by a rescheduled run: stop it" },
      );
    }
    const mapIndex = w.mapIndex ?? -1;
    const key = keyOf(w.flowRunId, w.slug, mapIndex);
    const entry = touched.get(key);
    const current = entry?.row.version ?? 0;
    if (w.version !== current) {
      // Behind: accepted only as a repeat of what its version + 1 already holds.
      if (entry === undefined || w.version > current) throw stale(w, current);
      const history = JSON.parse(entry.row.history) as unknown[];
      if (canonicalJson(history[w.version]) !== canonicalJson(w.state))
        throw stale(w, current, `, and its version ${w.version + 1} holds another state`);
      versions[i] = w.version + 1;
      continue;
    }
    const to = w.state.type;
    const from = entry?.row.state_type as StateType | undefined;
    const why = restartsUnfinishedWork(w, from) ? undefined : transitionError(from, to);
    if (why !== undefined) {
      throw new WeftError(
        "INVALID_TRANSITION",
        `${describe(w)} cannot go from ${from} to ${to}: ${why}`,
      );
    }
    const stateText = JSON.stringify(w.state);
    const time = isoText(w.state.timestamp, "state.timestamp");
    const row: Touched["row"] = entry?.row ?? {
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
      history: "[]",
    };
    row.state_type = to;
    row.state = stateText;
    row.version = current + 1;
    row.history =
      row.history === "[]" ? `[${stateText}]` : `${row.history.slice(0, -1)},${stateText}]`;
    if (w.state.attempts !== undefined) row.attempts = w.state.attempts;
    if (row.start_time == null) {
      if (w.state.startedAt !== undefined)
        row.start_time = isoText(w.state.startedAt, "state.startedAt");
      else if (to === "Running") row.start_time = time;
    }
    if (isStateA(to, "Finished")) row.end_time = time;
    if (w.resultRef !== undefined) row.result_ref = w.resultRef;
    const next = entry ?? { row };
    touched.set(key, next);
    changed.add(next);
    versions[i] = row.version;
  }

  if (changed.size > 0) {
    const rows = [...changed].map(({ row }) => COLUMNS.map((c) => row[c]));
    const excluded = UPDATED.map((c) => sql`${sql.ref(c)} = excluded.${sql.ref(c)}`);
    const wanted =
      changes === undefined ? [] : [...changed].filter(({ row }) => changes.wants(row.flow_run_id));
    const upsert = sql`insert into task_runs (${sql.join(COLUMNS.map((c) => sql.ref(c)))})
      ${connection.selectRows(TYPES, rows)} where true
      on conflict (flow_run_id, slug, map_index) do update set ${sql.join(excluded)}`;
    if (wanted.length === 0) await upsert.execute(trx);
    else {
      const ids = await sql<{
        id: number | string;
        flow_run_id: string;
        slug: string;
        map_index: number;
      }>`${upsert}
        returning id, flow_run_id, slug, map_index`.execute(trx);
      const idOf = new Map<string, number>();
      for (const r of ids.rows) idOf.set(keyOf(r.flow_run_id, r.slug, r.map_index), Number(r.id));
      for (const { row } of wanted) {
        const id = idOf.get(keyOf(row.flow_run_id, row.slug, row.map_index ?? -1));
        if (id !== undefined) changes!.rows.push({ ...(row as Omit<TaskRunRow, "id">), id });
      }
    }
    // A finished task run holds no concurrency slot (the engine releases it too; this
    // covers a release call that was lost). One read per run when nothing is held.
    const finished = new Map<string, { slug: string; mapIndex: number }[]>();
    for (const { row } of changed) {
      if (!isStateA(row.state_type as StateType, "Finished")) continue;
      const list = finished.get(row.flow_run_id) ?? [];
      list.push({ slug: row.slug, mapIndex: row.map_index ?? -1 });
      finished.set(row.flow_run_id, list);
    }
    for (const [runId, taskRuns] of finished) await releaseTaskRunSlots(trx, runId, taskRuns);
  }
  return versions;
}

/** Where the task runs a batch changed go, for the runs someone follows. */
export interface ChangedTaskRuns {
  /** True when the changes of this flow run are wanted. */
  readonly wants: (flowRunId: string) => boolean;
  /** Filled with the changed rows of wanted runs, as stored (with their ids). */
  readonly rows: TaskRunRow[];
}

const COLUMNS = [
  "flow_run_id",
  "slug",
  "map_index",
  "state_type",
  "state",
  "version",
  "attempts",
  "start_time",
  "end_time",
  "result_ref",
  "history",
] as const satisfies readonly (keyof NewRow)[];
const TYPES: readonly BulkType[] = COLUMNS.map((c) =>
  c === "map_index" || c === "version" || c === "attempts" ? "integer" : "text",
);
/** What an upsert of an existing task run changes (not its key). */
const UPDATED = COLUMNS.slice(3);

/**
 * True for a write that starts again a task run which ended without success in
 * an earlier claim of its flow run: a run rescheduled after a crash re-runs what
 * failed or was cancelled (what succeeded it reads back). Such a write names a
 * claim after the first; the engine itself never moves a failed task run back
 * within one claim.
 */
function restartsUnfinishedWork(w: TaskRunStateWrite, from: StateType | undefined): boolean {
  return (
    w.claim !== undefined &&
    w.claim > 1 &&
    from !== undefined &&
    isStateA(from, "Finished") &&
    !isStateA(from, "Success") &&
    (w.state.type === "Running" || isStateA(w.state.type, "Pending"))
  );
}
