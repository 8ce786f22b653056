import { isWeftError, WeftError } from "../../core/errors.ts";
import { AgentRepository } from "./agent-repository.ts";
import { ChangeFeed } from "./change-feed.ts";
import type { DbConnection } from "./connection.ts";
import { DashboardRepository } from "./dashboard-repository.ts";
import { FlowRepository } from "./flow-repository.ts";
import { LimitRepository } from "./limit-repository.ts";
import { LogRepository } from "./log-repository.ts";
import { migrateToLatest, schemaIsCurrent } from "./migrate.ts";
import { openPostgres } from "./postgres-connection.ts";
import { RunRepository } from "./run-repository.ts";
import type { ServerDb, ServerDbOptions } from "./server-db.ts";
import { SqlContext } from "./sql-context.ts";
import { openSqlite } from "./sqlite-connection.ts";
import { TaskRunRepository } from "./task-run-repository.ts";
import { TokenRepository } from "./token-repository.ts";

/** True for a `postgres://` or `postgresql://` URL. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//i.test(db);
}

/**
 * Opens the server's database: a `postgres://` / `postgresql://` URL →
 * PostgreSQL, anything else → a SQLite file (created with its directory when
 * missing). Brings the schema up to date under a lock. A start-up failure is one
 * WeftError: DATABASE_UNAVAILABLE naming the path or host:port, or MIGRATION_FAILED.
 * @example
 * const db = await openServerDb({ db: join(home, "weft.db") });
 * const { run } = await db.runs.create({ flowName: "etl" });
 */
export async function openServerDb(options: ServerDbOptions): Promise<ServerDb> {
  const connection = isPostgresUrl(options.db)
    ? await openPostgres(options.db, options.logger)
    : openSqlite(options.db);
  try {
    await migrateToLatest(connection);
  } catch (error) {
    await connection.close().catch(() => {});
    throw error;
  }
  return composeServerDb(connection, options.now ?? (() => new Date()));
}

/** The repositories over one connection, each behind the error guard. */
function composeServerDb(connection: DbConnection, clock: () => Date): ServerDb {
  const ctx = new SqlContext(connection, clock);
  const flows = new FlowRepository(ctx);
  const changes = new ChangeFeed();
  const taskRuns = new TaskRunRepository(ctx, changes);
  const runsChanged = new Set<() => void>();
  const runs = new RunRepository(ctx, flows, taskRuns, runsChanged, changes);
  const agents = new AgentRepository(ctx, runs, changes);
  const logs = new LogRepository(ctx, changes);
  const tokens = new TokenRepository(ctx);
  const limits = new LimitRepository(ctx);
  const dashboard = new DashboardRepository(ctx);
  const state = { closed: false };
  const guard = <T extends object>(target: T) => guarded(target, connection, state);
  return guard<ServerDb>({
    dialect: connection.dialect,
    flows: guard(flows),
    runs: guard(runs),
    taskRuns: guard(taskRuns),
    logs: guard(logs),
    agents: guard(agents),
    tokens: guard(tokens),
    limits: guard(limits),
    dashboard: guard(dashboard),
    // Not guarded: it never touches the database.
    changes,
    asLeader: (name, body) => connection.asLeader(name, body),
    async ready() {
      try {
        return await schemaIsCurrent(connection);
      } catch {
        return false;
      }
    },
    async close() {
      state.closed = true;
      runsChanged.clear();
      changes.clear();
      await connection.close();
    },
  });
}

/**
 * Wraps every method so that a driver error saying the database cannot be used
 * (connection lost, file locked or read-only) becomes DATABASE_UNAVAILABLE, which
 * the API answers with 503; weft's own errors and anything else pass unchanged.
 * Calls between repositories go to the unwrapped objects; the outer call translates.
 */
function guarded<T extends object>(
  target: T,
  connection: DbConnection,
  state: { closed: boolean },
): T {
  const translate = (error: unknown): unknown => {
    if (isWeftError(error)) return error;
    if (state.closed)
      return new WeftError("DATABASE_UNAVAILABLE", "the database is closed", { cause: error });
    const why = connection.unavailable(error);
    if (why === undefined) return error;
    return new WeftError("DATABASE_UNAVAILABLE", why, {
      cause: error,
      hint: "check that the database is reachable and writable",
    });
  };
  return new Proxy(target, {
    get(object, key, receiver) {
      const value = Reflect.get(object, key, receiver);
      if (typeof value !== "function" || key === "onChanged" || key === "onReleased") return value;
      return (...args: unknown[]) => {
        let result: unknown;
        try {
          result = (value as (...a: unknown[]) => unknown).apply(object, args);
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
