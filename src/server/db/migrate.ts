import { setTimeout as sleep } from "node:timers/promises";
import { type Kysely, type Migration, Migrator } from "kysely";
import { WeftError } from "../../core/errors.ts";
import type { DbConnection, Dialect } from "./connection.ts";
import { tablesMigration } from "./migrations/0001-tables.ts";
import { uniqueFlowVersionsMigration } from "./migrations/0002-unique-flow-versions.ts";
import { agentTokensMigration } from "./migrations/0003-agent-tokens.ts";
import { parentRunsMigration } from "./migrations/0004-parent-runs.ts";
import { concurrencyLimitsMigration } from "./migrations/0005-concurrency-limits.ts";
import { resumedRunsMigration } from "./migrations/0006-resumed-runs.ts";
import { runListIndexesMigration } from "./migrations/0007-run-list-indexes.ts";

/** How long start-up waits for another process migrating the same SQLite file. @default 10000 */
const BUSY_WAIT_MS = 10_000;

/** The numbered, append-only migrations, in order. Add a file and a line; never edit one that landed. */
function migrations(dialect: Dialect): Record<string, Migration> {
  return {
    "0001-tables": tablesMigration(dialect),
    "0002-unique-flow-versions": uniqueFlowVersionsMigration,
    "0003-agent-tokens": agentTokensMigration,
    "0004-parent-runs": parentRunsMigration,
    "0005-concurrency-limits": concurrencyLimitsMigration,
    "0006-resumed-runs": resumedRunsMigration,
    "0007-run-list-indexes": runListIndexesMigration,
  };
}

function migrator(connection: DbConnection): Migrator {
  return new Migrator({
    db: connection.db as unknown as Kysely<unknown>,
    provider: { getMigrations: async () => migrations(connection.dialect) },
    migrationTableName: "weft_migration",
    migrationLockTableName: "weft_migration_lock",
    ...(connection.migrationSchema === undefined
      ? {}
      : { migrationTableSchema: connection.migrationSchema }),
  });
}

/**
 * Brings the schema up to date. Kysely's migrator takes a lock (an advisory lock
 * on PostgreSQL; SQLite's write lock), so concurrent start-ups migrate once.
 */
export async function migrateToLatest(connection: DbConnection): Promise<void> {
  let outcome = await migrator(connection).migrateToLatest();
  // Another process is migrating the same SQLite file: wait for it, then find nothing to do.
  for (let waited = 0; connection.isBusy(outcome.error) && waited < BUSY_WAIT_MS; waited += 50) {
    await sleep(50);
    outcome = await migrator(connection).migrateToLatest();
  }
  const { error, results } = outcome;
  if (error === undefined) return;
  const failed = results?.find((r) => r.status === "Error")?.migrationName;
  const unavailable = connection.unavailable(error);
  throw new WeftError(
    unavailable === undefined ? "MIGRATION_FAILED" : "DATABASE_UNAVAILABLE",
    `${unavailable ?? "migrating the database failed"}${failed ? ` (migration ${failed})` : ""}: ${(error as Error).message}`,
    {
      cause: error,
      hint:
        unavailable === undefined
          ? "the database holds a schema this weft does not know; use the weft version that made it"
          : "check that the database is reachable and writable",
    },
  );
}

/** True when every migration has run. */
export async function schemaIsCurrent(connection: DbConnection): Promise<boolean> {
  const all = await migrator(connection).getMigrations();
  return all.every((m) => m.executedAt !== undefined);
}
