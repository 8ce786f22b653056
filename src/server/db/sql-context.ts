// What every repository shares: the connection (the dialect's differences), the
// clock, and the one write helper. Every write of every repository is one call of
// `write`: one transaction on one connection, applied whole or not at all. A write
// that must stay atomic across tables (a claim touches agents, flow runs and their
// history; recovery reads the agent; a task-run batch locks its flow runs) is one
// method of the repository that owns the invariant and runs inside one `write`;
// nothing composes two repositories' writes into a transaction, so no transaction
// is ever held across repositories.
//
// Row versions: a flow run's and a task run's `version` grows by one with every
// state write, and every state write is conditional on the version it read (see
// run-state-write.ts and task-run-batch.ts), so of two writers racing on one row
// exactly one wins and the other gets STALE_VERSION.
import { setTimeout as sleep } from "node:timers/promises";
import { type Kysely, sql } from "kysely";
import { WeftError } from "../../core/errors.ts";
import type { StateType } from "../../core/states.ts";
import type { SerializedState } from "../../serialization/schemas.ts";
import type { DbConnection, Dialect } from "./connection.ts";
import { canonicalJson } from "./content-hash.ts";
import type { FlowRow, FlowRunRow } from "./records.ts";
import type { Tables } from "./tables.ts";

/** How many times a write transaction is retried after losing a unique-key race. */
const RACE_RETRIES = 3;
/**
 * How long a write waits, without blocking the event loop, for another
 * connection's SQLite write lock before failing with DATABASE_UNAVAILABLE.
 * @default 10000
 */
const BUSY_WAIT_MS = 10_000;

/** The connection, the clock and the write helper, shared by every repository of one database. */
export class SqlContext {
  readonly dialect: Dialect;
  readonly db: Kysely<Tables>;

  constructor(
    readonly connection: DbConnection,
    private readonly clock: () => Date,
  ) {
    this.dialect = connection.dialect;
    this.db = connection.db;
  }

  /** The clock's time as the text a time column holds. */
  now(): string {
    return this.clock().toISOString();
  }

  /** One write transaction on one connection (SQLite: `begin immediate`, so writers queue instead of deadlocking). */
  write<T>(body: (trx: Kysely<Tables>) => Promise<T>): Promise<T> {
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
  async writeRetrying<T>(body: (trx: Kysely<Tables>) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.write(body);
      } catch (error) {
        if (attempt >= RACE_RETRIES || !this.connection.isUniqueViolation(error)) throw error;
      }
    }
  }

  /** The flow's row (FLOW_NOT_FOUND if none). */
  async flowRow(id: string, db: Kysely<Tables> = this.db): Promise<FlowRow> {
    const row = await db.selectFrom("flows").selectAll().where("id", "=", id).executeTakeFirst();
    if (row === undefined) throw flowNotFound(`with id ${id}`);
    return row;
  }

  /** The run's row (FLOW_RUN_NOT_FOUND if none), locked for the transaction when `lock` (PostgreSQL). */
  async runRow(id: string, db: Kysely<Tables> = this.db, lock = false): Promise<FlowRunRow> {
    const row = await db
      .selectFrom("flow_runs")
      .selectAll()
      .where("id", "=", id)
      .$if(lock && this.dialect === "postgres", (q) => q.forUpdate())
      .executeTakeFirst();
    if (row === undefined) throw runNotFound(id);
    return row;
  }
}

/** A state the server itself writes. */
export function serverState(type: StateType, timestamp: string, message?: string): SerializedState {
  return { schemaVersion: 1, type, timestamp, ...(message === undefined ? {} : { message }) };
}

/** True when the stored state text is `given` (a retried write). */
export function sameState(stored: string, given: SerializedState): boolean {
  return canonicalJson(JSON.parse(stored)) === canonicalJson(given);
}

/** FLOW_NOT_FOUND for `what` ("with id …" or a quoted name). */
export function flowNotFound(what: string): WeftError {
  return new WeftError("FLOW_NOT_FOUND", `flow ${what} is not registered`, {
    hint: "register it with `weft register <file>`; `weft flows ls` lists what is",
  });
}

/** FLOW_RUN_NOT_FOUND for the run `id`. */
export function runNotFound(id: string): WeftError {
  return new WeftError("FLOW_RUN_NOT_FOUND", `flow run ${id} does not exist`, {
    hint: "`weft runs ls` lists the runs",
  });
}

/** AGENT_NOT_FOUND for the agent `id`. */
export function agentNotFound(id: string): WeftError {
  return new WeftError("AGENT_NOT_FOUND", `agent ${id} is not registered`, {
    hint: "an agent registers itself when it starts; restart it",
  });
}
