import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import SqliteDatabase from "better-sqlite3";
import {
  type DialectAdapter,
  Kysely,
  type MigrationLockOptions,
  SqliteAdapter,
  SqliteDialect,
  sql,
} from "kysely";
import { WeftError } from "../../core/errors.ts";
import type { DbConnection } from "./connection.ts";
import type { Tables } from "./tables.ts";

/**
 * How long SQLite itself waits for another connection's write lock. Short, since
 * the wait blocks the event loop; the write helper (sql-context.ts) waits longer asynchronously.
 * @default 50
 */
const BUSY_TIMEOUT_MS = 50;

/**
 * SQLite's adapter, made to migrate like PostgreSQL: all migrations in one
 * transaction (SQLite's DDL is transactional) that first takes the write lock by
 * writing Kysely's lock row, so processes that start together migrate once, one
 * after the other (the later ones get SQLITE_BUSY, wait, and find nothing to do).
 */
class MigratingSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }

  override async acquireMigrationLock(db: Kysely<unknown>, options: MigrationLockOptions) {
    await sql`update ${sql.table(options.lockTable)} set is_locked = 1 where id = ${options.lockRowId}`.execute(
      db,
    );
  }

  override async releaseMigrationLock(db: Kysely<unknown>, options: MigrationLockOptions) {
    await sql`update ${sql.table(options.lockTable)} set is_locked = 0 where id = ${options.lockRowId}`.execute(
      db,
    );
  }
}

class MigratingSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new MigratingSqliteAdapter();
  }
}

/** Prepared statements kept per connection. @default 256 */
const STATEMENT_CACHE_SIZE = 256;

/**
 * The database as Kysely's driver sees it, with prepared statements reused by
 * their SQL text (least recently used dropped first): the repositories' hot statements
 * (task-run batches in fixed-size chunks, claims, state writes) are parsed once.
 * Kysely runs statements one at a time with `all` or `run`, never leaving one
 * half-iterated, so sharing a statement is safe.
 */
function withStatementCache(database: SqliteDatabase.Database): {
  close(): void;
  prepare(text: string): SqliteDatabase.Statement;
} {
  const cache = new Map<string, SqliteDatabase.Statement>();
  return {
    close: () => database.close(),
    prepare(text: string) {
      let statement = cache.get(text);
      if (statement === undefined) {
        statement = database.prepare(text);
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      } else {
        cache.delete(text);
      }
      cache.set(text, statement);
      return statement;
    },
  };
}

/**
 * Opens (creating it and its directory when missing) a SQLite file in WAL mode,
 * with a busy timeout and foreign keys on. Any failure is one DATABASE_UNAVAILABLE
 * naming the path.
 */
export function openSqlite(path: string): DbConnection {
  const where = path === ":memory:" ? path : resolve(path);
  let database: SqliteDatabase.Database;
  try {
    if (where !== ":memory:") mkdirSync(dirname(where), { recursive: true });
    database = new SqliteDatabase(where);
    database.pragma("journal_mode = WAL");
    database.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    database.pragma("foreign_keys = ON");
    database.pragma("synchronous = NORMAL");
  } catch (error) {
    throw new WeftError(
      "DATABASE_UNAVAILABLE",
      `cannot open the SQLite database ${where}: ${(error as Error).message}`,
      {
        cause: error,
        hint: "pass a writable file path with --db or WEFT_DB (its directory is created when missing)",
      },
    );
  }
  const statements = withStatementCache(database);
  const db = new Kysely<Tables>({ dialect: new MigratingSqliteDialect({ database: statements }) });
  let closed = false;
  return {
    dialect: "sqlite",
    db,
    beginWrite: "begin immediate",
    maxParameters: 32_000,
    migrationSchema: undefined,
    labelsWithin: (column, labels) =>
      sql<boolean>`not exists (select 1 from json_each(${column}) as l where l.value not in (select value from json_each(${labels})))`,
    // Straight to better-sqlite3: the one connection is the transaction's (Kysely's
    // single-connection provider holds it for the caller of `write`), and a cached
    // statement run per row skips building, parsing and binding a statement text per
    // batch (json_each over the whole batch cost twice as much a row).
    async insertRows(_trx, insert, rows) {
      const statement = statements.prepare(
        `insert into ${insert.into} values (${insert.types.map(() => "?").join(", ")}) ${insert.rest}`,
      );
      if (!statement.reader) {
        for (const row of rows) statement.run(row as unknown[]);
        return [];
      }
      return rows.map((row) => statement.get(row as unknown[]) as Record<string, unknown>);
    },
    inList: (column, values) =>
      sql<boolean>`${column} in (select value from json_each(${JSON.stringify(values)}))`,
    // One process owns the file's writer: it always leads.
    async asLeader(_name, body) {
      await body();
      return true;
    },
    isBusy: (error) =>
      typeof (error as { code?: unknown })?.code === "string" &&
      (error as { code: string }).code.startsWith("SQLITE_BUSY"),
    isUniqueViolation: (error) =>
      typeof (error as { code?: unknown })?.code === "string" &&
      /^SQLITE_CONSTRAINT_(UNIQUE|PRIMARYKEY)$/.test((error as { code: string }).code),
    unavailable(error) {
      const code = (error as { code?: unknown })?.code;
      if (typeof code !== "string") return undefined;
      if (/^SQLITE_(BUSY|LOCKED|READONLY|IOERR|FULL|CANTOPEN|CORRUPT|NOTADB)/.test(code))
        return `SQLite database ${where}: ${(error as Error).message} (${code})`;
      return undefined;
    },
    async close() {
      if (closed) return;
      closed = true;
      await db.destroy();
    },
  };
}
