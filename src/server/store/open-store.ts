import { isWeftError, WeftError } from "../../core/errors.ts";
import type { StoreConnection } from "./connection.ts";
import { openPostgres } from "./postgres-connection.ts";
import { SqlStore } from "./sql-store.ts";
import { openSqlite } from "./sqlite-connection.ts";
import type { Store, StoreOptions } from "./store.ts";
import { migrateToLatest } from "./store-migrations.ts";

/** True for a `postgres://` or `postgresql://` URL. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/**
 * Opens the store: a `postgres://` / `postgresql://` URL → PostgreSQL, anything
 * else → a SQLite file (created with its directory when missing). Brings the
 * schema up to date under a lock. A start-up failure is one WeftError:
 * DATABASE_UNAVAILABLE naming the path or host:port, or MIGRATION_FAILED.
 * @example
 * const store = await openStore({ db: join(home, "weft.db") });
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  const connection = isPostgresUrl(options.db)
    ? await openPostgres(options.db, options.logger)
    : openSqlite(options.db);
  try {
    await migrateToLatest(connection);
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
  return guard(new SqlStore(connection, options.now ?? (() => new Date())), connection);
}

/**
 * Wraps every method so that a driver error saying the database cannot be used
 * (connection lost, file locked or read-only) becomes DATABASE_UNAVAILABLE, which
 * the API answers with 503; weft's own errors and anything else pass unchanged.
 */
function guard(store: SqlStore, connection: StoreConnection): Store {
  let closed = false;
  const translate = (error: unknown): unknown => {
    if (isWeftError(error)) return error;
    if (closed)
      return new WeftError("DATABASE_UNAVAILABLE", "the store is closed", { cause: error });
    const why = connection.unavailable(error);
    if (why === undefined) return error;
    return new WeftError("DATABASE_UNAVAILABLE", why, {
      cause: error,
      hint: "check that the database is reachable and writable",
    });
  };
  return new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== "function" || key === "onRunsChanged") return value;
      return (...args: unknown[]) => {
        if (key === "close") closed = true;
        let result: unknown;
        try {
          result = (value as (...a: unknown[]) => unknown).apply(target, args);
        } catch (error) {
          throw translate(error);
        }
        return result instanceof Promise
          ? result.catch((error: unknown) => {
              throw translate(error);
            })
          : result;
      };
    },
  });
}
