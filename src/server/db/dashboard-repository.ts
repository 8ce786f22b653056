// The dashboard's aggregates (GET /api/dashboard): finished runs per time bucket and final
// state, the last 24 h's failures with the task that failed, the agents with the runs they
// hold, and the due Scheduled runs with why each waits. Read only; a handful of queries,
// each an SQL aggregate or a bounded, indexed read, so the answer costs the same on 100
// runs and on 100,000.
//
// Decisions:
// - Buckets group on a prefix of the stored time text (`YYYY-MM-DDTHH` for hours,
//   `YYYY-MM-DD` for days): times are fixed-width UTC text (records.ts), so `substr` is a
//   bucket on both dialects alike, with no date functions that differ between them. The
//   range on `end_time` walks the `flow_runs_ended` index (migration 0007).
// - A failure's task is the first task run that failed by end time, preferring one that
//   failed itself over a TriggerFailed one (that is only the consequence of another).
// - Why a run waits is `explainPending` (serialization/pending-reason.ts), the same
//   sentence `weft runs inspect` prints, fed with the agents and the runs each holds
//   counted here with one GROUP BY.
import { type Expression, type ExpressionBuilder, type SqlBool, sql } from "kysely";
import { isStateA, STATE_TYPES, type StateType } from "../../core/states.ts";
import type {
  DashboardBucket,
  DashboardFailure,
  DashboardQuery,
  DashboardResponse,
} from "../../serialization/dashboard-schemas.ts";
import { explainPending } from "../../serialization/pending-reason.ts";
import type { SerializedState } from "../../serialization/schemas.ts";
import { toAgentRecord, toFlowRunRecord } from "./records.ts";
import type { SqlContext } from "./sql-context.ts";
import type { Tables } from "./tables.ts";

/** A condition on flow runs. */
type RunFilter = (eb: ExpressionBuilder<Tables, "flow_runs">) => Expression<SqlBool>;

/** The final states of a flow run (under Finished). */
const FINAL_TYPES: readonly StateType[] = STATE_TYPES.filter((t) => isStateA(t, "Finished"));
/** The states of a failed run or task run. */
const FAILED_TYPES: readonly StateType[] = STATE_TYPES.filter((t) => isStateA(t, "Failed"));
/** The states of a run an agent holds. */
const HELD_TYPES = ["Submitted", "Running"] as const;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** The longest window the buckets cover. */
const MAX_WINDOW_MS = 366 * DAY;
/** At most this many failures and waiting runs are listed (their counts are whole). */
const LISTED = 20;

/** The dashboard's read-only aggregates. */
export class DashboardRepository {
  constructor(private readonly ctx: SqlContext) {}

  /** Everything the dashboard shows from the database, as of now (workers live in Redis). */
  async summary(query: DashboardQuery = {}): Promise<Omit<DashboardResponse, "workers">> {
    const now = new Date(this.ctx.now());
    const nowMs = now.getTime();
    const nowText = now.toISOString();
    const asked = query.since === undefined ? nowMs - DAY : Date.parse(query.since);
    const sinceMs = Math.min(nowMs, Math.max(asked, nowMs - MAX_WINDOW_MS));
    const bucket: DashboardBucket = query.bucket ?? (nowMs - sinceMs <= 3 * DAY ? "hour" : "day");
    const since = new Date(sinceMs).toISOString();
    const dayAgo = new Date(nowMs - DAY).toISOString();
    const agents = await this.agents();
    const [buckets, failures, failureCount, waiting] = await Promise.all([
      this.buckets(since, bucket, sinceMs, nowMs),
      this.failures(dayAgo),
      this.count((eb) =>
        eb.and([eb("state_type", "in", FAILED_TYPES), eb("end_time", ">=", dayAgo)]),
      ),
      this.waiting(nowText, now, agents.busy, agents.records),
    ]);
    return {
      since,
      now: nowText,
      bucket,
      buckets,
      failures,
      failureCount,
      agents: agents.records,
      waiting: waiting.items,
      waitingCount: waiting.count,
      runningCount: await this.count((eb) => eb("state_type", "=", "Running")),
    };
  }

  private async buckets(
    since: string,
    bucket: DashboardBucket,
    sinceMs: number,
    nowMs: number,
  ): Promise<DashboardResponse["buckets"]> {
    const width = bucket === "hour" ? 13 : 10;
    const key = sql<string>`substr(end_time, 1, ${sql.lit(width)})`;
    const rows = await this.ctx.db
      .selectFrom("flow_runs")
      .select([key.as("bucket"), "state_type", (eb) => eb.fn.countAll().as("n")])
      .where("end_time", ">=", since)
      .where("state_type", "in", FINAL_TYPES)
      .groupBy([key, "state_type"])
      .execute();
    const step = bucket === "hour" ? HOUR : DAY;
    const first = Math.floor(sinceMs / step) * step;
    const out: DashboardResponse["buckets"] = [];
    const byKey = new Map<string, Record<string, number>>();
    for (let t = first; t <= nowMs; t += step) {
      const start = new Date(t).toISOString();
      const counts: Record<string, number> = {};
      byKey.set(start.slice(0, width), counts);
      out.push({ start, counts });
    }
    for (const row of rows) {
      const counts = byKey.get(row.bucket);
      if (counts !== undefined) counts[row.state_type] = Number(row.n);
    }
    return out;
  }

  private async failures(dayAgo: string): Promise<DashboardFailure[]> {
    const runs = await this.ctx.db
      .selectFrom("flow_runs")
      .select(["id", "name", "flow_name", "state_type", "state", "end_time"])
      .where("end_time", ">=", dayAgo)
      .where("state_type", "in", FAILED_TYPES)
      .orderBy("end_time", "desc")
      .orderBy("id", "desc")
      .limit(LISTED)
      .execute();
    if (runs.length === 0) return [];
    const tasks = await this.ctx.db
      .selectFrom("task_runs")
      .select(["flow_run_id", "slug", "map_index", "state_type", "state", "end_time"])
      .where(
        "flow_run_id",
        "in",
        runs.map((r) => r.id),
      )
      .where("state_type", "in", FAILED_TYPES)
      .execute();
    const first = new Map<string, (typeof tasks)[number]>();
    for (const task of tasks) {
      const held = first.get(task.flow_run_id);
      if (held === undefined || failsBefore(task, held)) first.set(task.flow_run_id, task);
    }
    return runs.map((run) => {
      const state = JSON.parse(run.state) as SerializedState;
      const task = first.get(run.id);
      const taskState =
        task === undefined ? undefined : (JSON.parse(task.state) as SerializedState);
      const taskMessage = taskState?.error?.message ?? taskState?.message;
      return {
        runId: run.id,
        runName: run.name,
        flowName: run.flow_name,
        state: run.state_type,
        endTime: run.end_time ?? state.timestamp,
        ...(state.message === undefined ? {} : { message: state.message }),
        ...(task === undefined
          ? {}
          : {
              task: {
                slug: task.slug,
                ...(task.map_index >= 0 ? { mapIndex: task.map_index } : {}),
                state: task.state_type,
                ...(taskMessage === undefined ? {} : { message: taskMessage }),
              },
            }),
      };
    });
  }

  private async agents(): Promise<{
    records: DashboardResponse["agents"];
    busy: Map<string, number>;
  }> {
    const [rows, held] = await Promise.all([
      this.ctx.db.selectFrom("agents").selectAll().orderBy("name").execute(),
      this.ctx.db
        .selectFrom("flow_runs")
        .select(["agent_id", (eb) => eb.fn.countAll().as("n")])
        .where("state_type", "in", HELD_TYPES)
        .where("agent_id", "is not", null)
        .groupBy("agent_id")
        .execute(),
    ]);
    const busy = new Map<string, number>();
    for (const row of held) if (row.agent_id !== null) busy.set(row.agent_id, Number(row.n));
    return {
      records: rows.map((row) => ({ ...toAgentRecord(row), running: busy.get(row.id) ?? 0 })),
      busy,
    };
  }

  private async waiting(
    nowText: string,
    now: Date,
    busy: ReadonlyMap<string, number>,
    agents: DashboardResponse["agents"],
  ): Promise<{ items: DashboardResponse["waiting"]; count: number }> {
    const due: RunFilter = (eb) =>
      eb.and([eb("state_type", "=", "Scheduled"), eb("scheduled_start", "<=", nowText)]);
    const [rows, count] = await Promise.all([
      this.ctx.db
        .selectFrom("flow_runs")
        .selectAll()
        .where(due)
        .orderBy("scheduled_start")
        .orderBy("id")
        .limit(LISTED)
        .execute(),
      this.count(due),
    ]);
    const facts = { agents, busy, now };
    const items = rows.map((row) => {
      const run = toFlowRunRecord(row);
      return {
        runId: run.id,
        runName: run.name,
        flowName: run.flowName,
        labels: run.labels,
        scheduledStart: run.scheduledStart,
        reason: explainPending(run, facts) ?? "",
      };
    });
    return { items, count };
  }

  private async count(where: RunFilter): Promise<number> {
    const row = await this.ctx.db
      .selectFrom("flow_runs")
      .select((eb) => eb.fn.countAll().as("n"))
      .where(where)
      .executeTakeFirst();
    return Number(row?.n ?? 0);
  }
}

/** True when task run `a` is the better "failing task" than `b`. */
function failsBefore(
  a: { state_type: string; end_time: string | null },
  b: { state_type: string; end_time: string | null },
): boolean {
  const aOwn = a.state_type !== "TriggerFailed";
  const bOwn = b.state_type !== "TriggerFailed";
  if (aOwn !== bOwn) return aOwn;
  return (a.end_time ?? "\uffff") < (b.end_time ?? "\uffff");
}
