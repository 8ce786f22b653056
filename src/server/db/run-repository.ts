// Flow runs, with what moves them: creation (by users and by the scheduler),
// state writes, cancel, heartbeats, claims by agents, and run health's recovery.
//
// Invariants:
// - Row versions: every state write is conditional on the version it read and
//   appends the new state to the run's history in the same transaction
//   (run-state-write.ts); a repeated write (same state at version + 1) is
//   accepted and changes nothing, so clients may retry.
// - Transitions follow the state tree (transitions.ts).
// - One winner per claim: a claim is one conditional update (`state_type =
//   'Scheduled'`, candidates picked once in a materialized CTE, `skip locked` on
//   PostgreSQL), so a run goes to exactly one agent, also across replicas; each
//   claim bumps `claim_count`, which task-run writes of an older claim are
//   checked against (task-run-batch.ts).
// - Idempotent creation: an idempotency key is unique per version group (same key
//   and parameters: that run; other parameters: IDEMPOTENCY_CONFLICT); the
//   scheduler's runs are unique per (version group, scheduled time).
// - Recovery is versioned: a stale run that moved on since it was found is left
//   alone, so run health on several replicas acts once.
// Every write that may make a run claimable notifies `onChanged` listeners after
// it committed, so waiting claims wake at once (claim-wait.ts); every write that
// changes a run publishes its record to the change feed after it committed
// (change-feed.ts), for the API's event streams.
import { randomUUID } from "node:crypto";
import { sql } from "kysely";
import { WeftError } from "../../core/errors.ts";
import type { ParameterSpec } from "../../core/graph.ts";
import { resolveParameters } from "../../core/parameter.ts";
import { isStateA, type StateType } from "../../core/states.ts";
import type {
  ClaimedRun,
  CreateFlowRunRequest,
  FlowRunDetail,
  FlowRunRecord,
  ListFlowRunsQuery,
  Page,
  RunWrite,
  RunWriteResult,
  TaskRunRecord,
} from "../../serialization/api-schemas.ts";
import {
  isTimeInRange,
  type SerializedFlow,
  type SerializedState,
  type TypedObject,
} from "../../serialization/schemas.ts";
import type { ChangeFeed } from "./change-feed.ts";
import { canonicalJson } from "./content-hash.ts";
import type { FlowRepository } from "./flow-repository.ts";
import { publishLogs } from "./log-repository.ts";
import {
  chunks,
  type FlowRow,
  type FlowRunRow,
  isoText,
  toChildRunSummary,
  toFlowRunRecord,
  toTaskRunRecord,
} from "./records.ts";
import { applyRunWrites, type StatusOfCode } from "./run-batch.ts";
import { listRuns } from "./run-list.ts";
import { findStaleRuns, recoverStaleRun, type StaleLimits, type StaleRun } from "./run-recovery.ts";
import { resumeRun } from "./run-resume.ts";
import { applyRunState, writeRunState } from "./run-state-write.ts";
import { agentNotFound, runNotFound, type SqlContext, serverState } from "./sql-context.ts";
import { publishTaskRuns } from "./task-run-batch.ts";
import type { TaskRunRepository } from "./task-run-repository.ts";

function parameterSpecs(flow: SerializedFlow): Map<string, ParameterSpec> {
  return new Map(
    flow.parameters.map((p) => [
      p.name,
      {
        name: p.name,
        defaultValue: p.default,
        required: p.required,
        type: p.type,
        description: p.description,
        validate: undefined,
      },
    ]),
  );
}

function newRunRow(
  flow: FlowRow,
  fields: {
    parameters: Record<string, unknown>;
    labels: string[];
    scheduledStart: string;
    now: string;
    name?: string | undefined;
    idempotencyKey?: string | undefined;
    autoScheduled: boolean;
    parentRunId?: string | undefined;
    parentTaskRun?: string | undefined;
    resumedFrom?: string | undefined;
    approved?: readonly string[] | undefined;
  },
): FlowRunRow {
  const id = randomUUID();
  const labels = [...new Set([...(JSON.parse(flow.labels) as string[]), ...fields.labels])].sort();
  return {
    id,
    flow_id: flow.id,
    flow_name: flow.name,
    flow_version: flow.version,
    version_group: flow.version_group,
    name: fields.name ?? `${flow.name}-${id.slice(0, 8)}`,
    parameters: JSON.stringify(fields.parameters),
    labels: JSON.stringify(labels),
    state_type: "Scheduled",
    state: JSON.stringify(serverState("Scheduled", fields.now)),
    state_at: fields.now,
    version: 1,
    scheduled_start: fields.scheduledStart,
    start_time: null,
    end_time: null,
    agent_id: null,
    heartbeat_at: null,
    idempotency_key: fields.idempotencyKey ?? null,
    auto_scheduled: fields.autoScheduled ? 1 : 0,
    reschedule_count: 0,
    claim_count: 0,
    created_at: fields.now,
    parent_run_id: fields.parentRunId ?? null,
    parent_task_run: fields.parentTaskRun ?? null,
    resumed_from: fields.resumedFrom ?? null,
    approved: fields.approved?.length ? JSON.stringify(fields.approved) : null,
  };
}

/** Flow runs: creation, state writes, claims and recovery. */
export class RunRepository {
  /**
   * @param listeners who `onChanged` adds to; the database owns the set and
   *   empties it when it closes.
   */
  constructor(
    private readonly ctx: SqlContext,
    private readonly flows: FlowRepository,
    private readonly taskRuns: TaskRunRepository,
    private readonly listeners: Set<() => void>,
    private readonly feed: ChangeFeed,
  ) {}

  /** Publishes a committed run to the change feed, when anyone listens to it. */
  private publish(run: FlowRunRow | FlowRunRecord): void {
    if (!this.feed.wantsRun(run.id)) return;
    this.feed.publish({ kind: "run", run: "flow_id" in run ? toFlowRunRecord(run) : run });
  }

  /**
   * Calls `listener` after any write of this database that may make a run
   * claimable (a run created, rescheduled or put back to Scheduled), so waiting
   * claims wake at once. Returns the unsubscribe function. Writes of other
   * processes (server replicas) are not seen: waiters also poll.
   */
  onChanged(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private notify(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch {
        // A listener's failure is its own; the write has committed.
      }
    }
  }

  /**
   * Creates a run in Scheduled (due at `scheduledStart`, default now), its
   * parameters validated against the flow's (INVALID_PARAMETER naming the
   * parameter). With an idempotency key already used in the flow's group, returns
   * that run (`created: false`); the same key with other parameters is IDEMPOTENCY_CONFLICT.
   */
  async create(request: CreateFlowRunRequest): Promise<{ run: FlowRunRecord; created: boolean }> {
    let flow: FlowRow;
    if (request.flowId !== undefined) flow = await this.ctx.flowRow(request.flowId);
    else if (request.flowName !== undefined) {
      const detail = await this.flows.latest(request.flowName);
      flow = await this.ctx.flowRow(detail.id);
    } else {
      throw new WeftError("INVALID_REQUEST", "a flow run needs a flowId or a flowName");
    }
    const serialized = JSON.parse(flow.flow) as SerializedFlow;
    const parameters = resolveParameters(
      flow.name,
      parameterSpecs(serialized),
      request.parameters ?? {},
    );
    const now = this.ctx.now();
    const row = newRunRow(flow, {
      parameters,
      labels: request.labels ?? [],
      scheduledStart:
        request.scheduledStart === undefined
          ? now
          : isoText(request.scheduledStart, "scheduledStart"),
      now,
      name: request.name,
      idempotencyKey: request.idempotencyKey,
      autoScheduled: false,
      parentRunId: request.parentRunId,
      parentTaskRun: request.parentTaskRun,
    });
    const key = request.idempotencyKey;
    const result = await this.ctx.writeRetrying(async (trx) => {
      if (key !== undefined) {
        const existing = await trx
          .selectFrom("flow_runs")
          .selectAll()
          .where("version_group", "=", flow.version_group)
          .where("idempotency_key", "=", key)
          .executeTakeFirst();
        if (existing !== undefined) {
          if (canonicalJson(JSON.parse(existing.parameters)) !== canonicalJson(parameters)) {
            throw new WeftError(
              "IDEMPOTENCY_CONFLICT",
              `idempotency key ${JSON.stringify(key)} was used for flow run ${existing.id} of "${flow.version_group}" with other parameters`,
              { hint: "use a new key for a run with other parameters" },
            );
          }
          return { run: toFlowRunRecord(existing), created: false };
        }
      }
      await trx.insertInto("flow_runs").values(row).execute();
      await trx
        .insertInto("flow_run_states")
        .values({ flow_run_id: row.id, version: 1, state: row.state, created_at: now })
        .execute();
      return { run: toFlowRunRecord(row), created: true };
    });
    if (result.created) this.notify();
    if (result.created) this.publish(result.run);
    return result;
  }

  /**
   * The scheduler's insert: one Scheduled run per time, idempotent by (version
   * group, scheduled time) so restarts and replicas never duplicate one. Returns
   * how many were new.
   */
  async createScheduled(flowId: string, all: readonly Date[]): Promise<number> {
    // A time the database cannot hold (beyond year 9999) is never due: it is left out.
    const times = all.filter((t) => isTimeInRange(t.getTime()));
    if (times.length === 0) return 0;
    const flow = await this.ctx.flowRow(flowId);
    const parameters = resolveParameters(flow.name, parameterSpecs(JSON.parse(flow.flow)), {});
    const now = this.ctx.now();
    const rows = times.map((t) =>
      newRunRow(flow, {
        parameters,
        labels: [],
        scheduledStart: t.toISOString(),
        now,
        name: `${flow.name}-${t.toISOString()}`,
        autoScheduled: true,
      }),
    );
    const columns = Object.keys(rows[0]!).length;
    const maxParameters = this.ctx.connection.maxParameters;
    const created = await this.ctx.write(async (trx) => {
      const inserted: FlowRunRow[] = [];
      for (const part of chunks(rows, Math.floor(maxParameters / columns))) {
        inserted.push(
          ...(await trx
            .insertInto("flow_runs")
            .values(part)
            .onConflict((oc) => oc.doNothing())
            .returningAll()
            .execute()),
        );
      }
      for (const part of chunks(inserted, Math.floor(maxParameters / 4))) {
        await trx
          .insertInto("flow_run_states")
          .values(
            part.map((r) => ({ flow_run_id: r.id, version: 1, state: r.state, created_at: now })),
          )
          .execute();
      }
      return inserted;
    });
    if (created.length > 0) this.notify();
    for (const row of created) this.publish(row);
    return created.length;
  }

  /** A run by id (FLOW_RUN_NOT_FOUND if none). */
  async get(id: string): Promise<FlowRunRecord> {
    return toFlowRunRecord(await this.ctx.runRow(id));
  }

  /** The run, its task runs, its state history and the runs its tasks created. */
  async getDetail(id: string): Promise<FlowRunDetail> {
    const run = await this.get(id);
    const [taskRuns, history, children] = await Promise.all([
      this.taskRuns.list(id),
      this.ctx.db
        .selectFrom("flow_run_states")
        .select("state")
        .where("flow_run_id", "=", id)
        .orderBy("version")
        .execute(),
      this.ctx.db
        .selectFrom("flow_runs")
        .select(["id", "name", "flow_name", "state", "parent_task_run"])
        .where("parent_run_id", "=", id)
        .orderBy("created_at")
        .orderBy("id")
        .execute(),
    ]);
    return {
      ...run,
      taskRuns,
      history: history.map((h) => JSON.parse(h.state)),
      childRuns: children.map(toChildRunSummary),
    };
  }

  /**
   * A page of runs, latest scheduled start first, filtered by flow, agent, state, id prefix,
   * time range and labels (run-list.ts: each filter an index walk that stops after a page).
   */
  list(query: ListFlowRunsQuery): Promise<Page<FlowRunRecord>> {
    return listRuns(this.ctx, query);
  }

  /**
   * Sets a run's state when `version` is its current row version (else
   * STALE_VERSION) and the transition is valid (else INVALID_TRANSITION); sets
   * start/end times; returns the run with its new version.
   */
  async setState(id: string, next: SerializedState, version: number): Promise<FlowRunRecord> {
    const row = await this.ctx.write((trx) => writeRunState(this.ctx, trx, id, next, version));
    if (isStateA(row.state_type as StateType, "Scheduled")) this.notify();
    this.publish(row);
    return toFlowRunRecord(row);
  }

  /**
   * Applies writes of many runs (flow-run states, task-run states, logs) in one
   * transaction, each whole or refused alone with its error (run-batch.ts).
   */
  async writeBatch(writes: readonly RunWrite[], statusOf: StatusOfCode): Promise<RunWriteResult[]> {
    const { results, rescheduled, changed } = await applyRunWrites(
      this.ctx,
      writes,
      statusOf,
      this.feed,
    );
    if (rescheduled) this.notify();
    for (const row of changed.runs) this.publish(row);
    publishTaskRuns(this.feed, changed.taskRuns);
    publishLogs(this.feed, changed.logs);
    return results;
  }

  /** Scheduled/Submitted/Paused → Cancelled; Running → Cancelling; finished: INVALID_TRANSITION. */
  async cancel(id: string): Promise<FlowRunRecord> {
    const row = await this.ctx.write(async (trx) => {
      const row = await this.ctx.runRow(id, trx, true);
      const from = row.state_type as StateType;
      if (from === "Cancelling") return row;
      if (isStateA(from, "Finished")) {
        throw new WeftError(
          "INVALID_TRANSITION",
          `flow run ${id} cannot be cancelled: it is ${from}, a finished state`,
        );
      }
      const now = this.ctx.now();
      const to: StateType = isStateA(from, "Running") ? "Cancelling" : "Cancelled";
      return applyRunState(
        trx,
        row,
        serverState(to, now, "cancelled through the API"),
        this.ctx.now(),
      );
    });
    this.publish(row);
    return toFlowRunRecord(row);
  }

  /**
   * A new Scheduled run of `id`'s flow version and parameters that resumes it,
   * with the `approve` slugs approved (run-resume.ts has the rules and refusals).
   */
  async resume(id: string, approve: readonly string[]): Promise<FlowRunRecord> {
    const row = await this.ctx.write((trx) =>
      resumeRun(this.ctx, trx, id, approve, (flow, fields, now) =>
        newRunRow(flow, { ...fields, scheduledStart: now, now, autoScheduled: false }),
      ),
    );
    this.notify();
    return toFlowRunRecord(row);
  }

  /** Records a heartbeat (does not change the row version). */
  async heartbeat(id: string): Promise<FlowRunRecord> {
    const row = await this.ctx.write((trx) =>
      trx
        .updateTable("flow_runs")
        .set({ heartbeat_at: this.ctx.now() })
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) throw runNotFound(id);
    return toFlowRunRecord(row);
  }

  // ── claims ──

  /**
   * One conditional update moves up to `limit` due Scheduled runs whose labels
   * are all on the agent to Submitted for it (one winner per run, also across
   * replicas), oldest due first, and returns them with what deploying needs.
   * The agent's `last_seen` is touched in the same transaction.
   */
  async claim(agentId: string, limit: number): Promise<ClaimedRun[]> {
    const now = this.ctx.now();
    const claimed = await this.ctx.write(async (trx) => {
      const agent = await trx
        .updateTable("agents")
        .set({ last_seen: now })
        .where("id", "=", agentId)
        .returning(["name", "labels"])
        .executeTakeFirst();
      if (agent === undefined) throw agentNotFound(agentId);
      const submitted = JSON.stringify(
        serverState("Submitted", now, `claimed by agent "${agent.name}"`),
      );
      // The candidates are picked once, in a materialized CTE: as a plain IN subquery,
      // PostgreSQL may rescan it per row and claim more than `limit` (seen).
      const rows = await trx
        .with(
          (cte) => cte("due").materialized(),
          (db) =>
            db
              .selectFrom("flow_runs")
              .select("id")
              .where("state_type", "=", "Scheduled")
              .where("scheduled_start", "<=", now)
              .where(this.ctx.connection.labelsWithin(sql.ref("flow_runs.labels"), agent.labels))
              .orderBy("scheduled_start")
              .orderBy("id")
              .limit(limit)
              .$if(this.ctx.dialect === "postgres", (q) => q.forUpdate().skipLocked()),
        )
        .updateTable("flow_runs")
        .set({
          state_type: "Submitted",
          state: submitted,
          state_at: now,
          version: sql<number>`version + 1`,
          claim_count: sql<number>`claim_count + 1`,
          agent_id: agentId,
          heartbeat_at: null,
        })
        .where("id", "in", (eb) => eb.selectFrom("due").select("due.id"))
        .where("state_type", "=", "Scheduled")
        .returningAll()
        .execute();
      if (rows.length === 0) return [];
      await trx
        .insertInto("flow_run_states")
        .values(
          rows.map((r) => ({
            flow_run_id: r.id,
            version: r.version,
            state: r.state,
            created_at: now,
          })),
        )
        .execute();
      const flows = await trx
        .selectFrom("flows")
        .select(["id", "name", "storage", "environment", "location"])
        .where("id", "in", [...new Set(rows.map((r) => r.flow_id))])
        .execute();
      const byId = new Map(flows.map((f) => [f.id, f]));
      // What earlier claims recorded, in the same read, so the agent need not ask per run.
      const taskRuns = new Map<string, TaskRunRecord[]>();
      for (const ids of chunks(
        rows.filter((r) => r.claim_count > 1).map((r) => r.id),
        this.ctx.connection.maxParameters,
      )) {
        const found = await trx
          .selectFrom("task_runs")
          .selectAll()
          .where("flow_run_id", "in", ids)
          .execute();
        for (const t of found) {
          const list = taskRuns.get(t.flow_run_id) ?? [];
          list.push(toTaskRunRecord(t));
          taskRuns.set(t.flow_run_id, list);
        }
      }
      return rows
        .sort((a, b) =>
          a.scheduled_start === b.scheduled_start
            ? a.id.localeCompare(b.id)
            : a.scheduled_start < b.scheduled_start
              ? -1
              : 1,
        )
        .map((r): ClaimedRun => {
          const f = byId.get(r.flow_id)!;
          return {
            run: toFlowRunRecord(r),
            flowName: f.name,
            ...(f.storage === null ? {} : { storage: JSON.parse(f.storage) as TypedObject }),
            ...(f.environment === null
              ? {}
              : { environment: JSON.parse(f.environment) as TypedObject }),
            ...(f.location === null ? {} : { location: f.location }),
            taskRuns: taskRuns.get(r.id) ?? [],
          };
        });
    });
    for (const c of claimed) this.publish(c.run);
    return claimed;
  }

  /** The earliest scheduled start of a Scheduled run this agent could claim (undefined: none). */
  async nextDue(agentId: string): Promise<Date | undefined> {
    const agent = await this.ctx.db
      .selectFrom("agents")
      .select("labels")
      .where("id", "=", agentId)
      .executeTakeFirst();
    if (agent === undefined) throw agentNotFound(agentId);
    const row = await this.ctx.db
      .selectFrom("flow_runs")
      .select("scheduled_start")
      .where("state_type", "=", "Scheduled")
      .where(this.ctx.connection.labelsWithin(sql.ref("flow_runs.labels"), agent.labels))
      .orderBy("scheduled_start")
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : new Date(row.scheduled_start);
  }

  // ── run health ──

  /**
   * Runs Submitted before `submittedBefore` that never started; Running runs
   * whose last heartbeat (or start) is before `heartbeatBefore`; and, with
   * `agentSeenBefore`, runs whose agent was last seen before it: Submitted ones
   * at once, Running ones when their own last heartbeat is before it too.
   * A limit left out finds nothing of its kind.
   */
  findStale(limits: StaleLimits): Promise<StaleRun[]> {
    return findStaleRuns(this.ctx, limits);
  }

  /**
   * Puts a stale run back to Scheduled (rescheduleCount + 1) when it was
   * rescheduled fewer than `maxReschedules` times, else fails it; the message
   * says which staleness it was. Versioned: a run that moved on since it was
   * found is left alone (returns undefined).
   */
  async recoverStale(stale: StaleRun, maxReschedules: number): Promise<FlowRunRecord | undefined> {
    const row = await this.ctx.write((trx) =>
      recoverStaleRun(this.ctx, trx, stale, maxReschedules),
    );
    if (row?.state_type === "Scheduled") this.notify();
    if (row === undefined) return undefined;
    this.publish(row);
    return toFlowRunRecord(row);
  }
}
