import { type Kysely, sql } from "kysely";
import { WeftError } from "../../core/errors.ts";
import { isStateA, type StateType } from "../../core/states.ts";
import type { TaskRunStateWrite } from "../../serialization/api-schemas.ts";
import type { ChangeFeed } from "./change-feed.ts";
import type { BulkType, DbConnection, RowsInsert } from "./connection.ts";
import { canonicalJson } from "./content-hash.ts";
import { releaseTaskRunSlots } from "./limit-repository.ts";
import { chunks, isoText, type TaskRunRow, toTaskRunRecord } from "./records.ts";
import type { Tables } from "./tables.ts";
import { transitionError } from "./transitions.ts";

// The task-run batch: read every touched row in one query per flow run, decide in
// JS, write each touched task run once (DbConnection.insertRows: a cached statement
// per row on SQLite, one statement over a JSON parameter on PostgreSQL). One
// transaction, all or none. When the caller asks (someone follows a run's events),
// the write also returns the rows' ids, so the changed task runs can be published as
// records after the commit without another query.
//
// Decisions:
// - The history is appended by the database: a write sends the states this batch
//   adds, as a JSON array, and the upsert splices it onto the stored array. The read
//   leaves `history` and `state` out, so neither crosses the connection twice; the
//   stored history is read only for a repeated write behind the current version.

/** A task run as the batch reads and writes it (no `id`, no `history`). */
type BatchRow = Omit<TaskRunRow, "id" | "history">;

interface Touched {
  row: BatchRow;
  /** The row's id, when it existed before the batch. */
  readonly id: number | undefined;
  /** Its version before the batch (0: a new row). */
  readonly stored: number;
  /** Its stored history, read only when a repeat behind `stored` needs it. */
  storedHistory?: unknown[];
  /** The states this batch appends, as JSON texts. */
  readonly added: string[];
}

function describe(w: TaskRunStateWrite): string {
  const index = w.mapIndex === undefined ? "" : `[${w.mapIndex}]`;
  return `task run ${w.slug}${index} of flow run ${w.flowRunId}`;
}

/** Task runs by flow run, slug and map index: nested maps, so no key string is built per write. */
class TaskRunIndex<T> {
  private readonly runs = new Map<string, Map<string, Map<number, T>>>();

  get(flowRunId: string, slug: string, mapIndex: number): T | undefined {
    return this.runs.get(flowRunId)?.get(slug)?.get(mapIndex);
  }

  set(flowRunId: string, slug: string, mapIndex: number, value: T): void {
    let slugs = this.runs.get(flowRunId);
    if (slugs === undefined) {
      slugs = new Map();
      this.runs.set(flowRunId, slugs);
    }
    let indexes = slugs.get(slug);
    if (indexes === undefined) {
      indexes = new Map();
      slugs.set(slug, indexes);
    }
    indexes.set(mapIndex, value);
  }
}

function stale(w: TaskRunStateWrite, current: number, why = ""): WeftError {
  return new WeftError(
    "STALE_VERSION",
    `${describe(w)}: version ${w.version} is stale, the task run is at version ${current}${why}`,
    { hint: "read the task run again and retry with its current version" },
  );
}

/** The state `entry` held at `version` (0-based: its version + 1 is what the write made). */
async function stateAt(trx: Kysely<Tables>, entry: Touched, version: number): Promise<unknown> {
  if (version >= entry.stored) return JSON.parse(entry.added[version - entry.stored]!);
  if (entry.storedHistory === undefined) {
    const { history } = await trx
      .selectFrom("task_runs")
      .select("history")
      .where("id", "=", entry.id!)
      .executeTakeFirstOrThrow();
    entry.storedHistory = JSON.parse(history) as unknown[];
  }
  return entry.storedHistory[version];
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
  // What each flow run's writes name: its slugs and map indexes.
  const named = new Map<string, { slugs: Set<string>; indexes: Set<number> }>();
  for (const w of writes) {
    let run = named.get(w.flowRunId);
    if (run === undefined) {
      run = { slugs: new Set(), indexes: new Set() };
      named.set(w.flowRunId, run);
    }
    run.slugs.add(w.slug);
    run.indexes.add(w.mapIndex ?? -1);
  }
  const runIds = [...named.keys()];
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
  // those written (a superset when several mapped slugs mix index ranges: the rows
  // no write names are never looked up, so never written).
  const touched = new TaskRunIndex<Touched>();
  for (const [runId, { slugs, indexes }] of named) {
    const rows = await trx
      .selectFrom("task_runs")
      .select(READ)
      .where("flow_run_id", "=", runId)
      .where(connection.inList(sql.ref("slug"), [...slugs], "text"))
      .where(connection.inList(sql.ref("map_index"), [...indexes], "integer"))
      .execute();
    for (const r of rows) {
      const row: BatchRow = {
        flow_run_id: runId,
        slug: r.slug,
        map_index: r.map_index,
        state_type: r.state_type,
        state: "",
        version: r.version,
        attempts: r.attempts,
        start_time: r.start_time,
        end_time: r.end_time,
        result_ref: r.result_ref,
      };
      touched.set(runId, r.slug, r.map_index, {
        row,
        id: Number(r.id),
        stored: r.version,
        added: [],
      });
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
    let entry = touched.get(w.flowRunId, w.slug, mapIndex);
    const current = entry?.row.version ?? 0;
    if (w.version !== current) {
      // Behind: accepted only as a repeat of what its version + 1 already holds.
      if (entry === undefined || w.version > current) throw stale(w, current);
      if (canonicalJson(await stateAt(trx, entry, w.version)) !== canonicalJson(w.state))
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
    if (entry === undefined) {
      entry = {
        row: {
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
        },
        id: undefined,
        stored: 0,
        added: [],
      };
      touched.set(w.flowRunId, w.slug, mapIndex, entry);
    }
    const row = entry.row;
    row.state_type = to;
    row.state = stateText;
    row.version = current + 1;
    entry.added.push(stateText);
    if (w.state.attempts !== undefined) row.attempts = w.state.attempts;
    if (row.start_time == null) {
      if (w.state.startedAt !== undefined)
        row.start_time = isoText(w.state.startedAt, "state.startedAt");
      else if (to === "Running") row.start_time = time;
    }
    if (isStateA(to, "Finished")) row.end_time = time;
    if (w.resultRef !== undefined) row.result_ref = w.resultRef;
    changed.add(entry);
    versions[i] = row.version;
  }

  if (changed.size > 0) {
    const rows: unknown[][] = [];
    for (const { row, added } of changed) {
      rows.push([
        row.flow_run_id,
        row.slug,
        row.map_index,
        row.state_type,
        row.state,
        row.version,
        row.attempts,
        row.start_time,
        row.end_time,
        row.result_ref,
        added.length === 1 ? `[${added[0]}]` : `[${added.join(",")}]`,
      ]);
    }
    const wanted =
      changes === undefined ? [] : [...changed].filter(({ row }) => changes.wants(row.flow_run_id));
    if (wanted.length === 0) await connection.insertRows(trx, UPSERT, rows);
    else {
      const ids = await connection.insertRows(trx, UPSERT_RETURNING, rows);
      const idOf = new TaskRunIndex<number>();
      for (const r of ids)
        idOf.set(r.flow_run_id as string, r.slug as string, r.map_index as number, Number(r.id));
      for (const { row } of wanted) {
        const id = idOf.get(row.flow_run_id, row.slug, row.map_index);
        if (id !== undefined) changes!.rows.push({ ...row, id });
      }
    }
    // A finished task run holds no concurrency slot (the engine releases it too; this
    // covers a release call that was lost). One read per run when nothing is held.
    const finished = new Map<string, { slug: string; mapIndex: number }[]>();
    for (const { row } of changed) {
      if (!isStateA(row.state_type as StateType, "Finished")) continue;
      const list = finished.get(row.flow_run_id) ?? [];
      list.push({ slug: row.slug, mapIndex: row.map_index });
      finished.set(row.flow_run_id, list);
    }
    for (const [runId, taskRuns] of finished) await releaseTaskRunSlots(trx, runId, taskRuns);
  }
  return versions;
}

/** A changed task run as the change feed publishes it: its row without the history. */
export type TaskRunChange = Omit<TaskRunRow, "history">;

/** Where the task runs a batch changed go, for the runs someone follows. */
export interface ChangedTaskRuns {
  /** True when the changes of this flow run are wanted. */
  readonly wants: (flowRunId: string) => boolean;
  /** Filled with the changed rows of wanted runs, as stored (with their ids). */
  readonly rows: TaskRunChange[];
}

/** Publishes committed task-run rows to the change feed, one change per flow run. */
export function publishTaskRuns(feed: ChangeFeed, rows: readonly TaskRunChange[]): void {
  if (rows.length === 0) return;
  const byRun = new Map<string, TaskRunChange[]>();
  for (const row of rows) {
    const list = byRun.get(row.flow_run_id);
    if (list === undefined) byRun.set(row.flow_run_id, [row]);
    else list.push(row);
  }
  for (const [flowRunId, list] of byRun)
    feed.publish({ kind: "task-runs", flowRunId, taskRuns: list.map(toTaskRunRecord) });
}

/** What the batch reads of a touched row: not `state` nor `history` (see the header). */
const READ = [
  "id",
  "slug",
  "map_index",
  "state_type",
  "version",
  "attempts",
  "start_time",
  "end_time",
  "result_ref",
] as const;

/** The columns a batch writes, in the order of its rows; `history` holds the states it adds. */
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
] as const;
const TYPES: readonly BulkType[] = COLUMNS.map((c) =>
  c === "map_index" || c === "version" || c === "attempts" ? "integer" : "text",
);
/** The upsert: an existing task run gets every column but its key, and its history the added states. */
const UPSERT: RowsInsert = {
  into: `task_runs (${COLUMNS.join(", ")})`,
  types: TYPES,
  rest: `on conflict (flow_run_id, slug, map_index) do update set ${COLUMNS.slice(3, -1)
    .map((c) => `${c} = excluded.${c}`)
    .join(", ")}, history = case when task_runs.history = '[]' then excluded.history
      else substr(task_runs.history, 1, length(task_runs.history) - 1) || ',' || substr(excluded.history, 2) end`,
};
const UPSERT_RETURNING: RowsInsert = {
  ...UPSERT,
  rest: `${UPSERT.rest} returning id, flow_run_id, slug, map_index`,
};

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
