// The server's database: one object per process, composed of one repository per
// aggregate, each over the same connection and write helper (sql-context.ts):
//
//   db.flows      flow versions (flow-repository.ts)
//   db.runs       flow runs, with claims and recovery (run-repository.ts)
//   db.taskRuns   task-run state batches (task-run-repository.ts)
//   db.logs       log records (log-repository.ts)
//   db.agents     agents and their names (agent-repository.ts)
//   db.tokens     API tokens (token-repository.ts)
//   db.limits     concurrency limits by task tag and their slots (limit-repository.ts)
//   db.dashboard  the web UI dashboard's read-only aggregates (dashboard-repository.ts)
//
// Transactions never span repositories: a write that must be atomic across tables
// is one method of the repository owning the invariant (a claim is `runs.claim`,
// which also touches the agent; archiving a version's scheduled runs is
// `flows.register`). A repository may read through another (runs → flows for a
// flow by name, runs → taskRuns for a run's detail, agents → runs to give back
// what an agent does not hold), each call its own transaction, as before.
// Named `ServerDb`, not "store", so it is never mistaken for a flow's `Storage`.
import type { Logger } from "../../core/reporter.ts";
import type { AgentRepository } from "./agent-repository.ts";
import type { ChangeFeed } from "./change-feed.ts";
import type { Dialect } from "./connection.ts";
import type { DashboardRepository } from "./dashboard-repository.ts";
import type { FlowRepository } from "./flow-repository.ts";
import type { LimitRepository } from "./limit-repository.ts";
import type { LogRepository } from "./log-repository.ts";
import type { RunRepository } from "./run-repository.ts";
import type { TaskRunRepository } from "./task-run-repository.ts";
import type { TokenRepository } from "./token-repository.ts";

export type { AgentOwner } from "./agent-repository.ts";
export type { Change, ChangeFeed, ChangeListener } from "./change-feed.ts";
export { DIALECTS, type Dialect } from "./connection.ts";
export type { StaleReason, StaleRun } from "./run-recovery.ts";

/**
 * The server's system of record: every read and write the API, the scheduler
 * and run health make, over one query layer with two dialects. Methods throw
 * {@link WeftError}s with the codes the API maps to statuses:
 * FLOW_NOT_FOUND / FLOW_RUN_NOT_FOUND / AGENT_NOT_FOUND / TOKEN_NOT_FOUND (404),
 * INVALID_TRANSITION / STALE_VERSION / IDEMPOTENCY_CONFLICT (409),
 * INVALID_REQUEST / INVALID_PARAMETER / MISSING_PARAMETER / UNKNOWN_PARAMETER /
 * INVALID_SCHEDULE (400), DATABASE_UNAVAILABLE (503).
 *
 * Every write is one transaction: it is applied whole or not at all.
 */
export interface ServerDb {
  readonly dialect: Dialect;
  readonly flows: FlowRepository;
  readonly runs: RunRepository;
  readonly taskRuns: TaskRunRepository;
  readonly logs: LogRepository;
  readonly agents: AgentRepository;
  readonly tokens: TokenRepository;
  readonly limits: LimitRepository;
  readonly dashboard: DashboardRepository;
  /**
   * What this process's writes changed (runs, task runs, logs, agents), published
   * after each commit; the API's event streams follow it. Writes of other
   * processes on the same database are not in it.
   */
  readonly changes: ChangeFeed;
  /**
   * Runs `body` only if this process holds the named leader lock (PostgreSQL:
   * an advisory lock held on one connection; SQLite: one process owns the
   * file's writer, so always). Returns false when another replica leads.
   */
  asLeader(name: string, body: () => Promise<void>): Promise<boolean>;
  /** True when the database answers and the schema is current. */
  ready(): Promise<boolean>;
  /** Closes connections. Idempotent. */
  close(): Promise<void>;
}

/** How the server's database is opened. */
export interface ServerDbOptions {
  /** A SQLite file path, `:memory:`, or a `postgres://` URL. */
  readonly db: string;
  /** The clock (tests move it). @default () => new Date() */
  readonly now?: () => Date;
  /** Where the database reports what it cannot throw (a pooled PostgreSQL connection lost while idle). */
  readonly logger?: Logger;
}
