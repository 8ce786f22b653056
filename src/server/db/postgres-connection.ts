import { createHash } from "node:crypto";
import { Kysely, PostgresDialect, sql } from "kysely";
import pg from "pg";
import { WeftError } from "../../core/errors.ts";
import type { Logger } from "../../core/reporter.ts";
import type { DbConnection } from "./connection.ts";
import type { Tables } from "./tables.ts";

/** Connections in the pool. @default 10 */
const POOL_SIZE = 10;
/** How long opening a connection may take. @default 10000 */
const CONNECT_TIMEOUT_MS = 10_000;

const INT8_OID = 20;

/** `host:port` of a PostgreSQL URL, for messages (never the user or password). */
export function postgresAddress(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || "localhost"}:${u.port || "5432"}`;
  } catch {
    return "(an unparsable URL)";
  }
}

const CONNECTION_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
]);

function connectionFailure(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  if (typeof e?.code === "string") {
    if (CONNECTION_CODES.has(e.code)) return true;
    // SQLSTATE class 08 (connection exception), 57P0x (shutdown), 53300 (too many connections)
    if (/^(08|57P0)/.test(e.code) || e.code === "53300") return true;
  }
  return (
    typeof e?.message === "string" &&
    /Connection terminated|connection timeout|Client has encountered a connection error/i.test(
      e.message,
    )
  );
}

/**
 * Connects a pool to PostgreSQL and checks that it answers. Counts and other
 * int8 values come back as numbers. The schema is the connection's search_path:
 * `?options=-c%20search_path%3Dmy_schema` in the URL puts weft's tables in
 * `my_schema` (which must exist). An unreachable server is one
 * DATABASE_UNAVAILABLE naming host:port.
 */
export async function openPostgres(url: string, logger?: Logger): Promise<DbConnection> {
  const address = postgresAddress(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: POOL_SIZE,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === INT8_OID
          ? Number
          : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle client losing its server must not crash the process: the next query reports it.
  pool.on("error", (error) => logger?.warn(`PostgreSQL ${address}: ${error.message}`));
  // Neither may a client checked out of the pool (inside a transaction, or between a
  // query and its release): pg-pool listens on idle clients only, and an 'error'
  // nobody listens to kills the process. The query in flight fails with the error
  // (DATABASE_UNAVAILABLE), and the pool drops the broken client when it is released.
  pool.on("connect", (client) => {
    client.on("error", (error: Error) =>
      logger?.debug(`PostgreSQL ${address}: a connection was lost: ${error.message}`),
    );
  });
  let schema: string;
  let database: string;
  try {
    const result = await pool.query<{ schema: string | null; database: string }>(
      "select current_schema() as schema, current_database() as database",
    );
    const row = result.rows[0]!;
    if (row.schema === null) {
      throw new WeftError(
        "DATABASE_UNAVAILABLE",
        `PostgreSQL at ${address}: the search_path names no existing schema`,
        { hint: "create the schema named in the URL's search_path option first" },
      );
    }
    schema = row.schema;
    database = row.database;
  } catch (error) {
    await pool.end().catch(() => {});
    if (error instanceof WeftError) throw error;
    throw new WeftError(
      "DATABASE_UNAVAILABLE",
      `cannot reach PostgreSQL at ${address}: ${(error as Error).message || String((error as { code?: unknown }).code)}`,
      {
        cause: error,
        hint: "check that the server runs and that the URL's host, port, user and database are right (--db or WEFT_DB)",
      },
    );
  }
  const db = new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
  let closed = false;

  // A leader lock is per database and schema: replicas of one deployment share both.
  const lockKey = (name: string) =>
    createHash("sha256")
      .update(`weft-leader\0${database}\0${schema}\0${name}`)
      .digest()
      .readBigInt64BE(0)
      .toString();

  return {
    dialect: "postgres",
    db,
    beginWrite: "begin",
    maxParameters: 65_000,
    migrationSchema: schema,
    labelsWithin: (column, labels) => sql<boolean>`(${column})::jsonb <@ (${labels})::jsonb`,
    // The rows as one jsonb parameter: pg writes one string instead of escaping every
    // element of one text array per column (half the client's CPU a row), and the server
    // reads jsonb as fast as it unnests arrays.
    async insertRows(trx, insert, rows) {
      const columns = insert.types.map((type, i) => `(e->>${i})::${type}`).join(", ");
      const result = await sql<Record<string, unknown>>`insert into ${sql.raw(insert.into)}
        select ${sql.raw(columns)} from jsonb_array_elements(${JSON.stringify(rows)}::jsonb) as e
        where true ${sql.raw(insert.rest)}`.execute(trx);
      return result.rows;
    },
    inList: (column, values, type) => sql<boolean>`${column} = any(${values}::${sql.raw(type)}[])`,
    async asLeader(name, body) {
      // The lock lives on one dedicated connection, held while the body runs; if that
      // connection is lost, the server releases the lock and another replica leads.
      const client = await pool.connect();
      let locked = false;
      let broken: Error | undefined;
      const onError = (error: Error) => {
        broken = error;
      };
      client.on("error", onError);
      try {
        const key = lockKey(name);
        const result = await client.query<{ locked: boolean }>(
          "select pg_try_advisory_lock($1::bigint) as locked",
          [key],
        );
        locked = result.rows[0]?.locked === true;
        if (!locked) return false;
        await body();
        return true;
      } finally {
        if (locked && broken === undefined) {
          await client
            .query("select pg_advisory_unlock($1::bigint)", [lockKey(name)])
            .catch((error: Error) => {
              broken = error;
            });
        }
        client.off("error", onError);
        // A broken client is destroyed (which releases a lock it might still hold).
        client.release(broken);
      }
    },
    // Row locks wait inside the server; there is no busy answer to retry.
    isBusy: () => false,
    isUniqueViolation: (error) => (error as { code?: unknown })?.code === "23505",
    unavailable(error) {
      if (!connectionFailure(error)) return undefined;
      return `PostgreSQL at ${address}: ${(error as Error).message || String((error as { code?: unknown }).code)}`;
    },
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}
