import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { type Kysely, sql } from "kysely";
import { WeftError } from "../../core/errors.ts";
import type { ParameterSpec } from "../../core/graph.ts";
import { resolveParameters } from "../../core/parameter.ts";
import { isStateA, STATE_TYPES, type StateType } from "../../core/states.ts";
import {
  type Agent,
  type ApiToken,
  type ClaimedRun,
  type CreateFlowRunRequest,
  type FlowDetail,
  type FlowRun,
  type FlowSummary,
  type ListFlowRunsQuery,
  type ListFlowsQuery,
  type LogEntry,
  type Page,
  type TaskRun,
  type TaskRunStateWrite,
  TOKEN_SCOPES,
  type TokenScope,
} from "../../serialization/api-schemas.ts";
import { scheduleFromJSON } from "../../serialization/flow-serializer.ts";
import {
  isTimeInRange,
  type SerializedFlow,
  type SerializedState,
  type TypedObject,
} from "../../serialization/schemas.ts";
import type { StoreConnection } from "./connection.ts";
import { canonicalJson, flowContentHash } from "./content-hash.ts";
import type { Database, FlowRunsTable } from "./database.ts";
import type { AgentOwner, StaleRun, Store } from "./store.ts";
import { schemaIsCurrent } from "./store-migrations.ts";
import {
  chunks,
  decodeCursor,
  encodeCursor,
  type FlowRow,
  type FlowRunRow,
  isoText,
  toAgent,
  toApiToken,
  toFlowDetail,
  toFlowRun,
  toFlowSummary,
  toTaskRun,
} from "./store-records.ts";
import { applyTaskRunStates } from "./task-run-batch.ts";
import { newTokenSecret, parseTokenSecret, secretMatches } from "./tokens.ts";
import { transitionError } from "./transitions.ts";

/** How many times a write transaction is retried after losing a unique-key race. */
const RACE_RETRIES = 3;
/**
 * How long a write waits, without blocking the event loop, for another
 * connection's SQLite write lock before failing with DATABASE_UNAVAILABLE.
 * @default 10000
 */
const BUSY_WAIT_MS = 10_000;

const NOT_A_HASH = "0".repeat(64);

function state(type: StateType, timestamp: string, message?: string): SerializedState {
  return { schemaVersion: 1, type, timestamp, ...(message === undefined ? {} : { message }) };
}

function sameState(stored: string, given: SerializedState): boolean {
  return canonicalJson(JSON.parse(stored)) === canonicalJson(given);
}

function flowNotFound(what: string): WeftError {
  return new WeftError("FLOW_NOT_FOUND", `flow ${what} is not registered`, {
    hint: "register it with `weft register <file>`; `weft flows ls` lists what is",
  });
}

function runNotFound(id: string): WeftError {
  return new WeftError("FLOW_RUN_NOT_FOUND", `flow run ${id} does not exist`, {
    hint: "`weft runs ls` lists the runs",
  });
}

function agentNotFound(id: string): WeftError {
  return new WeftError("AGENT_NOT_FOUND", `agent ${id} is not registered`, {
    hint: "an agent registers itself when it starts; restart it",
  });
}

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

/** The state types a filter names, each with the types below it in the tree. */
function stateFilter(text: string): string[] {
  const out = new Set<string>();
  for (const name of text.split(",").map((s) => s.trim())) {
    if (!(STATE_TYPES as readonly string[]).includes(name)) {
      throw new WeftError(
        "INVALID_REQUEST",
        `state filter: unknown state ${JSON.stringify(name)}`,
        {
          hint: `known states: ${STATE_TYPES.join(", ")}`,
        },
      );
    }
    for (const t of STATE_TYPES) if (isStateA(t, name as StateType)) out.add(t);
  }
  return [...out];
}

/**
 * The store over Kysely, one implementation for SQLite and PostgreSQL; what
 * differs between them is behind {@link StoreConnection}.
 */
export class SqlStore implements Store {
  readonly dialect;
  private readonly db: Kysely<Database>;
  private readonly listeners = new Set<() => void>();

  constructor(
    private readonly connection: StoreConnection,
    private readonly clock: () => Date,
  ) {
    this.dialect = connection.dialect;
    this.db = connection.db;
  }

  private now(): string {
    return this.clock().toISOString();
  }

  /** One write transaction on one connection (SQLite: `begin immediate`, so writers queue instead of deadlocking). */
  private write<T>(body: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    return this.db.connection().execute(async (conn) => {
      for (let waited = 0, pause = 2; ; waited += pause, pause = Math.min(pause * 2, 50)) {
        try {
          await sql.raw(this.connection.beginWrite).execute(conn);
          break;
        } catch (error) {
          if (!this.connection.isBusy(error) || waited >= BUSY_WAIT_MS) throw error;
          await sleep(pause);
        }
      }
      let result: T;
      try {
        result = await body(conn);
      } catch (error) {
        await sql`rollback`.execute(conn).catch(() => {});
        throw error;
      }
      await sql`commit`.execute(conn);
      return result;
    });
  }

  /** `write`, retried when it lost a race on a unique key (PostgreSQL replicas). */
  private async writeRetrying<T>(body: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.write(body);
      } catch (error) {
        if (attempt >= RACE_RETRIES || !this.connection.isUniqueViolation(error)) throw error;
      }
    }
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

  // ── flows ──

  async registerFlow(
    flow: SerializedFlow,
    versionGroup: string = flow.name,
  ): Promise<{ flow: FlowSummary; created: boolean }> {
    if (flow.schedule !== undefined) {
      try {
        scheduleFromJSON(flow.schedule);
      } catch (error) {
        throw new WeftError(
          "INVALID_SCHEDULE",
          `flow "${flow.name}": ${(error as Error).message}`,
          {
            cause: error,
            ...((error as WeftError).hint ? { hint: (error as WeftError).hint! } : {}),
          },
        );
      }
    }
    const hash = flowContentHash(flow);
    const now = this.now();
    return this.writeRetrying(async (trx) => {
      let row = await trx
        .selectFrom("flows")
        .selectAll()
        .where("version_group", "=", versionGroup)
        .where("content_hash", "=", hash)
        .orderBy("version", "desc")
        .executeTakeFirst();
      const created = row === undefined;
      if (row === undefined) {
        const last = await trx
          .selectFrom("flows")
          .select((eb) => eb.fn.max("version").as("version"))
          .where("version_group", "=", versionGroup)
          .executeTakeFirst();
        row = {
          id: randomUUID(),
          name: flow.name,
          version_group: versionGroup,
          version: (last?.version ?? 0) + 1,
          content_hash: hash,
          flow: JSON.stringify(flow),
          storage: flow.storage === undefined ? null : JSON.stringify(flow.storage),
          environment: flow.environment === undefined ? null : JSON.stringify(flow.environment),
          location: flow.location ?? null,
          labels: JSON.stringify(flow.labels),
          schedule: flow.schedule === undefined ? null : JSON.stringify(flow.schedule),
          archived: 0,
          created_at: now,
        };
        await trx.insertInto("flows").values(row).execute();
      } else if (row.archived === 1) {
        await trx.updateTable("flows").set({ archived: 0 }).where("id", "=", row.id).execute();
        row = { ...row, archived: 0 };
      }
      const id = row.id;
      await trx
        .updateTable("flows")
        .set({ archived: 1 })
        .where("version_group", "=", versionGroup)
        .where("id", "!=", id)
        .where("archived", "=", 0)
        .execute();
      // The scheduler's not-yet-claimed runs of other versions go; it makes them again for this one.
      await trx
        .deleteFrom("flow_runs")
        .where("version_group", "=", versionGroup)
        .where("flow_id", "!=", id)
        .where("auto_scheduled", "=", 1)
        .where("state_type", "=", "Scheduled")
        .execute();
      return { flow: toFlowSummary(row), created };
    });
  }

  private async flowRow(id: string): Promise<FlowRow> {
    const row = await this.db
      .selectFrom("flows")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
    if (row === undefined) throw flowNotFound(`with id ${id}`);
    return row;
  }

  async getFlow(id: string): Promise<FlowDetail> {
    return toFlowDetail(await this.flowRow(id));
  }

  async latestFlow(name: string): Promise<FlowDetail> {
    const row = await this.db
      .selectFrom("flows")
      .selectAll()
      .where("name", "=", name)
      .where("archived", "=", 0)
      .orderBy("created_at", "desc")
      .orderBy("version", "desc")
      .executeTakeFirst();
    if (row === undefined) throw flowNotFound(`"${name}"`);
    return toFlowDetail(row);
  }

  async listFlows(query: ListFlowsQuery): Promise<Page<FlowSummary>> {
    const limit = query.limit ?? 50;
    let q = this.db.selectFrom("flows").selectAll();
    if (query.name !== undefined) q = q.where("name", "=", query.name);
    const archived = query.archived ?? "false";
    if (archived !== "all") q = q.where("archived", "=", archived === "true" ? 1 : 0);
    if (query.cursor !== undefined) {
      const [name, version, id] = decodeCursor<[string, number, string]>(query.cursor, [
        "string",
        "number",
        "string",
      ]);
      q = q.where((eb) =>
        eb.or([
          eb("name", ">", name),
          eb.and([
            eb("name", "=", name),
            eb.or([
              eb("version", "<", version),
              eb.and([eb("version", "=", version), eb("id", ">", id)]),
            ]),
          ]),
        ]),
      );
    }
    const rows = await q
      .orderBy("name")
      .orderBy("version", "desc")
      .orderBy("id")
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items: items.map(toFlowSummary),
      ...(rows.length > limit && last
        ? { nextCursor: encodeCursor([last.name, last.version, last.id]) }
        : {}),
    };
  }

  async scheduledFlows(): Promise<FlowDetail[]> {
    const rows = await this.db
      .selectFrom("flows")
      .selectAll()
      .where("archived", "=", 0)
      .where("schedule", "is not", null)
      .orderBy("name")
      .execute();
    return rows.map(toFlowDetail);
  }

  // ── flow runs ──

  private newRunRow(
    flow: FlowRow,
    fields: {
      parameters: Record<string, unknown>;
      labels: string[];
      scheduledStart: string;
      now: string;
      name?: string | undefined;
      idempotencyKey?: string | undefined;
      autoScheduled: boolean;
    },
  ): FlowRunRow {
    const id = randomUUID();
    const labels = [
      ...new Set([...(JSON.parse(flow.labels) as string[]), ...fields.labels]),
    ].sort();
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
      state: JSON.stringify(state("Scheduled", fields.now)),
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
    };
  }

  async createFlowRun(request: CreateFlowRunRequest): Promise<{ run: FlowRun; created: boolean }> {
    let flow: FlowRow;
    if (request.flowId !== undefined) flow = await this.flowRow(request.flowId);
    else if (request.flowName !== undefined) {
      const detail = await this.latestFlow(request.flowName);
      flow = await this.flowRow(detail.id);
    } else {
      throw new WeftError("INVALID_REQUEST", "a flow run needs a flowId or a flowName");
    }
    const serialized = JSON.parse(flow.flow) as SerializedFlow;
    const parameters = resolveParameters(
      flow.name,
      parameterSpecs(serialized),
      request.parameters ?? {},
    );
    const now = this.now();
    const row = this.newRunRow(flow, {
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
    });
    const key = request.idempotencyKey;
    const result = await this.writeRetrying(async (trx) => {
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
          return { run: toFlowRun(existing), created: false };
        }
      }
      await trx.insertInto("flow_runs").values(row).execute();
      await trx
        .insertInto("flow_run_states")
        .values({ flow_run_id: row.id, version: 1, state: row.state, created_at: now })
        .execute();
      return { run: toFlowRun(row), created: true };
    });
    if (result.created) this.notify();
    return result;
  }

  async createScheduledRuns(flowId: string, all: readonly Date[]): Promise<number> {
    // A time the store cannot hold (beyond year 9999) is never due: it is left out.
    const times = all.filter((t) => isTimeInRange(t.getTime()));
    if (times.length === 0) return 0;
    const flow = await this.flowRow(flowId);
    const parameters = resolveParameters(flow.name, parameterSpecs(JSON.parse(flow.flow)), {});
    const now = this.now();
    const rows = times.map((t) =>
      this.newRunRow(flow, {
        parameters,
        labels: [],
        scheduledStart: t.toISOString(),
        now,
        name: `${flow.name}-${t.toISOString()}`,
        autoScheduled: true,
      }),
    );
    const columns = Object.keys(rows[0]!).length;
    const created = await this.write(async (trx) => {
      const inserted: { id: string; state: string }[] = [];
      for (const part of chunks(rows, Math.floor(this.connection.maxParameters / columns))) {
        inserted.push(
          ...(await trx
            .insertInto("flow_runs")
            .values(part)
            .onConflict((oc) => oc.doNothing())
            .returning(["id", "state"])
            .execute()),
        );
      }
      for (const part of chunks(inserted, Math.floor(this.connection.maxParameters / 4))) {
        await trx
          .insertInto("flow_run_states")
          .values(
            part.map((r) => ({ flow_run_id: r.id, version: 1, state: r.state, created_at: now })),
          )
          .execute();
      }
      return inserted.length;
    });
    if (created > 0) this.notify();
    return created;
  }

  private async runRow(db: Kysely<Database>, id: string, lock = false): Promise<FlowRunRow> {
    const row = await db
      .selectFrom("flow_runs")
      .selectAll()
      .where("id", "=", id)
      .$if(lock && this.dialect === "postgres", (q) => q.forUpdate())
      .executeTakeFirst();
    if (row === undefined) throw runNotFound(id);
    return row;
  }

  async getFlowRun(id: string): Promise<FlowRun> {
    return toFlowRun(await this.runRow(this.db, id));
  }

  async getFlowRunDetail(
    id: string,
  ): Promise<FlowRun & { taskRuns: TaskRun[]; history: SerializedState[] }> {
    const run = await this.getFlowRun(id);
    const [taskRuns, history] = await Promise.all([
      this.listTaskRuns(id),
      this.db
        .selectFrom("flow_run_states")
        .select("state")
        .where("flow_run_id", "=", id)
        .orderBy("version")
        .execute(),
    ]);
    return { ...run, taskRuns, history: history.map((h) => JSON.parse(h.state)) };
  }

  async listFlowRuns(query: ListFlowRunsQuery): Promise<Page<FlowRun>> {
    const limit = query.limit ?? 50;
    let q = this.db.selectFrom("flow_runs").selectAll();
    if (query.flowId !== undefined) q = q.where("flow_id", "=", query.flowId);
    if (query.flowName !== undefined) q = q.where("flow_name", "=", query.flowName);
    if (query.agentId !== undefined) q = q.where("agent_id", "=", query.agentId);
    if (query.state !== undefined) q = q.where("state_type", "in", stateFilter(query.state));
    // Hex digits and dashes only (the schema's rule), so no LIKE wildcard; ids are lowercase,
    // and lowercasing here makes PostgreSQL (case-sensitive LIKE) answer as SQLite does.
    if (query.idPrefix !== undefined) q = q.where("id", "like", `${query.idPrefix.toLowerCase()}%`);
    if (query.cursor !== undefined) {
      const [start, id] = decodeCursor<[string, string]>(query.cursor, ["string", "string"]);
      // A row-value comparison: PostgreSQL walks the (scheduled_start, id) index with it, where
      // the equivalent OR of two conditions made it scan and sort every run.
      q = q.where((eb) => eb(eb.refTuple("scheduled_start", "id"), "<", eb.tuple(start, id)));
    }
    const rows = await q
      .orderBy("scheduled_start", "desc")
      .orderBy("id", "desc")
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items: items.map(toFlowRun),
      ...(rows.length > limit && last
        ? { nextCursor: encodeCursor([last.scheduled_start, last.id]) }
        : {}),
    };
  }

  /** The columns a state write changes, besides extra ones the caller gives. */
  private stateChange(
    row: FlowRunRow,
    next: SerializedState,
    now: string,
  ): Partial<FlowRunsTable> & { state: string; state_type: string; version: number } {
    const to = next.type;
    const change: Partial<FlowRunsTable> & { state: string; state_type: string; version: number } =
      {
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
      if (next.retryAt !== undefined)
        change.scheduled_start = isoText(next.retryAt, "state.retryAt");
    }
    return change;
  }

  /** Applies a checked state change to a locked row and records it in the history. */
  private async applyRunState(
    trx: Kysely<Database>,
    row: FlowRunRow,
    next: SerializedState,
    extra: Partial<FlowRunsTable> = {},
  ): Promise<FlowRunRow> {
    const now = this.now();
    const change = { ...this.stateChange(row, next, now), ...extra };
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
    return updated;
  }

  async setFlowRunState(id: string, next: SerializedState, version: number): Promise<FlowRun> {
    const row = await this.write(async (trx) => {
      const row = await this.runRow(trx, id, true);
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
      return this.applyRunState(trx, row, next);
    });
    if (isStateA(row.state_type as StateType, "Scheduled")) this.notify();
    return toFlowRun(row);
  }

  async cancelFlowRun(id: string): Promise<FlowRun> {
    const row = await this.write(async (trx) => {
      const row = await this.runRow(trx, id, true);
      const from = row.state_type as StateType;
      if (from === "Cancelling") return row;
      if (isStateA(from, "Finished")) {
        throw new WeftError(
          "INVALID_TRANSITION",
          `flow run ${id} cannot be cancelled: it is ${from}, a finished state`,
        );
      }
      const now = this.now();
      const to: StateType = isStateA(from, "Running") ? "Cancelling" : "Cancelled";
      return this.applyRunState(trx, row, state(to, now, "cancelled through the API"));
    });
    return toFlowRun(row);
  }

  async heartbeatFlowRun(id: string): Promise<FlowRun> {
    const row = await this.write((trx) =>
      trx
        .updateTable("flow_runs")
        .set({ heartbeat_at: this.now() })
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) throw runNotFound(id);
    return toFlowRun(row);
  }

  // ── task runs ──

  async setTaskRunStates(writes: readonly TaskRunStateWrite[]): Promise<number[]> {
    if (writes.length === 0) return [];
    return this.write((trx) => applyTaskRunStates(this.connection, trx, writes));
  }

  async listTaskRuns(flowRunId: string): Promise<TaskRun[]> {
    const rows = await this.db
      .selectFrom("task_runs")
      .selectAll()
      .where("flow_run_id", "=", flowRunId)
      .orderBy("slug")
      .orderBy("map_index")
      .execute();
    if (rows.length === 0) await this.runRow(this.db, flowRunId);
    return rows.map(toTaskRun);
  }

  // ── logs ──

  async insertLogs(records: readonly Omit<LogEntry, "id">[]): Promise<void> {
    if (records.length === 0) return;
    const runIds = [...new Set(records.map((r) => r.flowRunId))];
    const rows = records.map((r) => ({
      flow_run_id: r.flowRunId,
      task_slug: r.taskSlug ?? null,
      map_index: r.mapIndex ?? null,
      level: r.level,
      time: r.time,
      message: r.message,
      fields: r.fields === undefined ? null : JSON.stringify(r.fields),
    }));
    await this.write(async (trx) => {
      for (const ids of chunks(runIds, this.connection.maxParameters)) {
        const found = await trx
          .selectFrom("flow_runs")
          .select("id")
          .where("id", "in", ids)
          .execute();
        if (found.length !== ids.length) {
          const known = new Set(found.map((f) => f.id));
          throw runNotFound(ids.find((id) => !known.has(id))!);
        }
      }
      for (const part of chunks(rows, Math.floor(this.connection.maxParameters / 7))) {
        await trx.insertInto("logs").values(part).execute();
      }
    });
  }

  async listLogs(
    flowRunId: string,
    query: { limit: number; cursor?: string | undefined },
  ): Promise<Page<LogEntry>> {
    let q = this.db.selectFrom("logs").selectAll().where("flow_run_id", "=", flowRunId);
    if (query.cursor !== undefined) {
      const [after] = decodeCursor<[number]>(query.cursor, ["serial"]);
      q = q.where("id", ">", after);
    }
    const rows = await q
      .orderBy("id")
      .limit(query.limit + 1)
      .execute();
    if (rows.length === 0 && query.cursor === undefined) await this.runRow(this.db, flowRunId);
    const items = rows.slice(0, query.limit);
    const last = items.at(-1);
    return {
      items: items.map((r) => ({
        id: String(r.id),
        flowRunId: r.flow_run_id,
        level: r.level as LogEntry["level"],
        time: r.time,
        message: r.message,
        ...(r.task_slug === null ? {} : { taskSlug: r.task_slug }),
        ...(r.map_index === null ? {} : { mapIndex: r.map_index }),
        ...(r.fields === null ? {} : { fields: JSON.parse(r.fields) }),
      })),
      ...(rows.length > query.limit && last ? { nextCursor: encodeCursor([last.id]) } : {}),
    };
  }

  // ── agents and claims ──

  async registerAgent(
    input: { name: string; labels: string[]; concurrency: number },
    owner?: AgentOwner,
  ): Promise<Agent> {
    const now = this.now();
    const labels = JSON.stringify([...new Set(input.labels)].sort());
    const tokenId = owner?.tokenId ?? null;
    const row = await this.write((trx) =>
      trx
        .insertInto("agents")
        .values({
          id: randomUUID(),
          name: input.name,
          labels,
          concurrency: input.concurrency,
          last_seen: now,
          created_at: now,
          token_id: tokenId,
        })
        .onConflict((oc) => {
          const update = oc.column("name").doUpdateSet({
            labels,
            concurrency: input.concurrency,
            last_seen: now,
            ...(owner === undefined ? {} : { token_id: owner.tokenId }),
          });
          if (owner === undefined || owner.takeOver) return update;
          // One statement decides and writes, so two tokens racing for a name cannot both win.
          return update.where((eb) =>
            eb.or([
              eb("agents.token_id", "is", null),
              eb("agents.token_id", "=", owner.tokenId),
              eb.not(
                eb.exists(
                  eb
                    .selectFrom("api_tokens")
                    .select("api_tokens.id")
                    .whereRef("api_tokens.id", "=", "agents.token_id")
                    .where("api_tokens.revoked_at", "is", null),
                ),
              ),
            ]),
          );
        })
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) {
      throw new WeftError(
        "AGENT_NAME_TAKEN",
        `agent name ${JSON.stringify(input.name)} belongs to an agent registered with another token; an agent token may not take over another token's agent`,
        {
          hint: "give this agent another --name, or start it with the token that registered the name (an admin token may take a name over)",
        },
      );
    }
    return toAgent(row);
  }

  async heartbeatAgent(
    id: string,
    report?: { holding: readonly string[]; claimedBefore: Date },
  ): Promise<Agent> {
    const row = await this.write((trx) =>
      trx
        .updateTable("agents")
        .set({ last_seen: this.now() })
        .where("id", "=", id)
        .returningAll()
        .executeTakeFirst(),
    );
    if (row === undefined) throw agentNotFound(id);
    if (report !== undefined) {
      const holding = new Set(report.holding);
      const submitted = await this.db
        .selectFrom("flow_runs")
        .selectAll()
        .where("agent_id", "=", id)
        .where("state_type", "=", "Submitted")
        .where("state_at", "<", report.claimedBefore.toISOString())
        .execute();
      for (const r of submitted) {
        if (holding.has(r.id)) continue;
        // Versioned: a run that started meanwhile is left alone.
        await this.recoverStaleRun({ run: toFlowRun(r), reason: "not-held" }, 0);
      }
    }
    return toAgent(row);
  }

  async getAgent(id: string): Promise<Agent> {
    const row = await this.db
      .selectFrom("agents")
      .selectAll()
      .where("id", "=", id)
      .executeTakeFirst();
    if (row === undefined) throw agentNotFound(id);
    return toAgent(row);
  }

  async listAgents(): Promise<Agent[]> {
    const rows = await this.db.selectFrom("agents").selectAll().orderBy("name").execute();
    return rows.map(toAgent);
  }

  async claimFlowRuns(agentId: string, limit: number): Promise<ClaimedRun[]> {
    const now = this.now();
    const claimed = await this.write(async (trx) => {
      const agent = await trx
        .updateTable("agents")
        .set({ last_seen: now })
        .where("id", "=", agentId)
        .returning(["name", "labels"])
        .executeTakeFirst();
      if (agent === undefined) throw agentNotFound(agentId);
      const submitted = JSON.stringify(state("Submitted", now, `claimed by agent "${agent.name}"`));
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
              .where(this.connection.labelsWithin(sql.ref("flow_runs.labels"), agent.labels))
              .orderBy("scheduled_start")
              .orderBy("id")
              .limit(limit)
              .$if(this.dialect === "postgres", (q) => q.forUpdate().skipLocked()),
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
            run: toFlowRun(r),
            flowName: f.name,
            ...(f.storage === null ? {} : { storage: JSON.parse(f.storage) as TypedObject }),
            ...(f.environment === null
              ? {}
              : { environment: JSON.parse(f.environment) as TypedObject }),
            ...(f.location === null ? {} : { location: f.location }),
          };
        });
    });
    return claimed;
  }

  async nextDue(agentId: string): Promise<Date | undefined> {
    const agent = await this.db
      .selectFrom("agents")
      .select("labels")
      .where("id", "=", agentId)
      .executeTakeFirst();
    if (agent === undefined) throw agentNotFound(agentId);
    const row = await this.db
      .selectFrom("flow_runs")
      .select("scheduled_start")
      .where("state_type", "=", "Scheduled")
      .where(this.connection.labelsWithin(sql.ref("flow_runs.labels"), agent.labels))
      .orderBy("scheduled_start")
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : new Date(row.scheduled_start);
  }

  // ── run health ──

  async findStaleRuns(limits: {
    submittedBefore?: Date | undefined;
    heartbeatBefore?: Date | undefined;
    agentSeenBefore?: Date | undefined;
  }): Promise<StaleRun[]> {
    const none = Promise.resolve([] as FlowRunRow[]);
    const lastHeard = sql<string>`coalesce(flow_runs.heartbeat_at, flow_runs.start_time, flow_runs.state_at)`;
    const { submittedBefore, heartbeatBefore, agentSeenBefore } = limits;
    const [agentLost, lost, never] = await Promise.all([
      agentSeenBefore === undefined
        ? none
        : this.db
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
        : this.db
            .selectFrom("flow_runs")
            .selectAll()
            .where("state_type", "in", ["Running", "Cancelling"])
            .where(lastHeard, "<", heartbeatBefore.toISOString())
            .orderBy("state_at")
            .execute(),
      submittedBefore === undefined
        ? none
        : this.db
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
      for (const r of rows) if (!found.has(r.id)) found.set(r.id, { run: toFlowRun(r), reason });
    };
    add(agentLost, "agent-lost");
    add(lost, "heartbeat-lost");
    add(never, "never-started");
    return [...found.values()];
  }

  async recoverStaleRun(stale: StaleRun, maxReschedules: number): Promise<FlowRun | undefined> {
    const now = this.now();
    const row = await this.write(async (trx) => {
      const row = await trx
        .selectFrom("flow_runs")
        .selectAll()
        .where("id", "=", stale.run.id)
        .$if(this.dialect === "postgres", (q) => q.forUpdate())
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
      const agentName =
        agentRow === undefined ? `agent ${row.agent_id}` : `agent "${agentRow.name}"`;
      const agent = row.agent_id === null ? "" : ` by ${agentName}`;
      const started = row.state_type !== "Submitted";
      const what =
        stale.reason === "never-started"
          ? `it was submitted${agent} at ${row.state_at} but never started`
          : stale.reason === "agent-lost"
            ? `its ${agentName} stopped sending heartbeats (last seen ${agentRow?.last_seen ?? "never"}) ${started ? "while it ran" : "before starting it"}`
            : stale.reason === "not-held"
              ? `${agentName} does not hold it: the answer to its claim at ${row.state_at} never reached the agent`
              : `its heartbeats stopped (last ${row.heartbeat_at ?? row.start_time ?? row.state_at})`;
      if (stale.reason === "not-held") {
        // Not the run's fault, nor a try: it goes back as it was, without counting a reschedule.
        return this.applyRunState(
          trx,
          row,
          state("Scheduled", now, `given back by the server: ${what}`),
          { scheduled_start: now },
        );
      }
      if (row.state_type === "Cancelling") {
        return this.applyRunState(
          trx,
          row,
          state("Cancelled", now, `cancelled by run health: ${what} while cancelling`),
        );
      }
      if (row.reschedule_count < maxReschedules) {
        const count = row.reschedule_count + 1;
        return this.applyRunState(
          trx,
          row,
          state(
            "Scheduled",
            now,
            `rescheduled by run health (${count} of ${maxReschedules}): ${what}`,
          ),
          { reschedule_count: count, scheduled_start: now, start_time: null },
        );
      }
      return this.applyRunState(
        trx,
        row,
        state(
          "Failed",
          now,
          `failed by run health: ${what}; rescheduled ${row.reschedule_count} time(s) already (max ${maxReschedules})`,
        ),
      );
    });
    if (row?.state_type === "Scheduled") this.notify();
    return row === undefined ? undefined : toFlowRun(row);
  }

  // ── tokens ──

  async createToken(input: {
    name: string;
    scopes: TokenScope[];
  }): Promise<{ token: ApiToken; secret: string }> {
    const scopes = [...new Set(input.scopes)];
    const unknown = scopes.find((s) => !(TOKEN_SCOPES as readonly string[]).includes(s));
    if (scopes.length === 0 || unknown !== undefined) {
      throw new WeftError(
        "INVALID_REQUEST",
        unknown === undefined
          ? `token "${input.name}" needs at least one scope`
          : `token "${input.name}": unknown scope ${JSON.stringify(unknown)}`,
        { hint: `scopes: ${TOKEN_SCOPES.join(", ")}` },
      );
    }
    const { id, secret, hash } = newTokenSecret();
    const row = {
      id,
      name: input.name,
      secret_hash: hash,
      scopes: JSON.stringify(scopes),
      created_at: this.now(),
      revoked_at: null,
    };
    try {
      await this.write((trx) => trx.insertInto("api_tokens").values(row).execute());
    } catch (error) {
      if (!this.connection.isUniqueViolation(error)) throw error;
      throw new WeftError("INVALID_REQUEST", `a token named "${input.name}" already exists`, {
        hint: `revoke it first (weft token revoke ${input.name}) or choose another name`,
      });
    }
    return { token: toApiToken(row), secret };
  }

  async verifyToken(secret: string): Promise<ApiToken | undefined> {
    const parsed = parseTokenSecret(secret);
    const row =
      parsed === undefined
        ? undefined
        : await this.db
            .selectFrom("api_tokens")
            .selectAll()
            .where("id", "=", parsed.id)
            .executeTakeFirst();
    // Compare even when there is nothing to compare with, so timing tells nothing.
    const matches = secretMatches(parsed?.random ?? "", row?.secret_hash ?? NOT_A_HASH);
    if (row === undefined || !matches || row.revoked_at !== null) return undefined;
    return toApiToken(row);
  }

  async revokeToken(idOrName: string): Promise<ApiToken> {
    const now = this.now();
    return this.write(async (trx) => {
      const row =
        (await trx
          .selectFrom("api_tokens")
          .selectAll()
          .where("id", "=", idOrName)
          .executeTakeFirst()) ??
        (await trx
          .selectFrom("api_tokens")
          .selectAll()
          .where("name", "=", idOrName)
          .orderBy("revoked_at", "desc")
          .orderBy("created_at", "desc")
          .executeTakeFirst());
      if (row === undefined) {
        throw new WeftError(
          "TOKEN_NOT_FOUND",
          `no token has the id or name ${JSON.stringify(idOrName)}`,
          {
            hint: "`weft token ls` lists the tokens",
          },
        );
      }
      if (row.revoked_at !== null) return toApiToken(row);
      await trx
        .updateTable("api_tokens")
        .set({ revoked_at: now })
        .where("id", "=", row.id)
        .execute();
      return toApiToken({ ...row, revoked_at: now });
    });
  }

  async listTokens(): Promise<ApiToken[]> {
    const rows = await this.db.selectFrom("api_tokens").selectAll().orderBy("created_at").execute();
    return rows.map(toApiToken);
  }

  async countActiveTokens(): Promise<number> {
    const row = await this.db
      .selectFrom("api_tokens")
      .select((eb) => eb.fn.countAll<number>().as("n"))
      .where("revoked_at", "is", null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  // ── coordination ──

  onRunsChanged(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  asLeader(name: string, body: () => Promise<void>): Promise<boolean> {
    return this.connection.asLeader(name, body);
  }

  async ready(): Promise<boolean> {
    try {
      return await schemaIsCurrent(this.connection);
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    this.listeners.clear();
    await this.connection.close();
  }
}
