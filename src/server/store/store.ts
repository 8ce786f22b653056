import type { Logger } from "../../core/reporter.ts";
import type {
  Agent,
  ApiToken,
  ClaimedRun,
  CreateFlowRunRequest,
  FlowDetail,
  FlowRun,
  FlowSummary,
  ListFlowRunsQuery,
  ListFlowsQuery,
  LogEntry,
  Page,
  TaskRun,
  TaskRunStateWrite,
  TokenScope,
} from "../../serialization/api-schemas.ts";
import type { SerializedFlow, SerializedState } from "../../serialization/schemas.ts";

/** Who registers an agent: a token, and whether it may take over another token's name. */
export interface AgentOwner {
  readonly tokenId: string;
  /** An admin token may re-register any agent's name. */
  readonly takeOver: boolean;
}

/** The SQL dialects the store speaks. */
export const DIALECTS = ["sqlite", "postgres"] as const;
/** One of {@link DIALECTS}. */
export type Dialect = (typeof DIALECTS)[number];

/**
 * Why a run was taken back from its agent: submitted but never started, its own
 * heartbeats stopped, its agent's heartbeats stopped, or its agent reported
 * that it does not hold it (the claim's answer never reached the agent).
 */
export type StaleReason = "never-started" | "heartbeat-lost" | "agent-lost" | "not-held";

/** A run that run health found stale. */
export interface StaleRun {
  readonly run: FlowRun;
  readonly reason: StaleReason;
}

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
export interface Store {
  readonly dialect: Dialect;

  // ── flows ──
  /**
   * Registers a flow version. Idempotent by content hash over the structural
   * content, compared with every earlier version of its group (same hash: that
   * version, `created: false`; if it was archived it becomes the active one again,
   * so re-registering old code rolls back). New content: the next version of the
   * group. Either way every other version of the group is archived,
   * and the Scheduled runs the scheduler made for them are removed (the scheduler
   * makes them again for the new version). Runs made by users keep their version.
   */
  registerFlow(
    flow: SerializedFlow,
    versionGroup?: string,
  ): Promise<{ flow: FlowSummary; created: boolean }>;
  getFlow(id: string): Promise<FlowDetail>;
  /** The newest unarchived version of a flow by name (FLOW_NOT_FOUND if none). */
  latestFlow(name: string): Promise<FlowDetail>;
  listFlows(query: ListFlowsQuery): Promise<Page<FlowSummary>>;
  /** Unarchived flow versions with a schedule (the scheduler's input). */
  scheduledFlows(): Promise<FlowDetail[]>;

  // ── flow runs ──
  /**
   * Creates a run in Scheduled (due at `scheduledStart`, default now), its
   * parameters validated against the flow's (INVALID_PARAMETER naming the
   * parameter). With an idempotency key already used in the flow's group, returns
   * that run (`created: false`); the same key with other parameters is IDEMPOTENCY_CONFLICT.
   */
  createFlowRun(request: CreateFlowRunRequest): Promise<{ run: FlowRun; created: boolean }>;
  /**
   * The scheduler's insert: one Scheduled run per time, idempotent by (version
   * group, scheduled time) so restarts and replicas never duplicate one. Returns
   * how many were new.
   */
  createScheduledRuns(flowId: string, times: readonly Date[]): Promise<number>;
  getFlowRun(id: string): Promise<FlowRun>;
  /** The run, its task runs and its state history. */
  getFlowRunDetail(
    id: string,
  ): Promise<FlowRun & { taskRuns: TaskRun[]; history: SerializedState[] }>;
  listFlowRuns(query: ListFlowRunsQuery): Promise<Page<FlowRun>>;
  /**
   * Sets a run's state when `version` is its current row version (else
   * STALE_VERSION) and the transition is valid (else INVALID_TRANSITION); sets
   * start/end times; returns the run with its new version.
   */
  setFlowRunState(id: string, state: SerializedState, version: number): Promise<FlowRun>;
  /** Scheduled/Submitted/Paused → Cancelled; Running → Cancelling; finished: INVALID_TRANSITION. */
  cancelFlowRun(id: string): Promise<FlowRun>;
  /** Records a heartbeat (does not change the row version). */
  heartbeatFlowRun(id: string): Promise<FlowRun>;

  // ── task runs ──
  /** Applies many task-run state writes in one transaction, all or none; returns each new version. */
  setTaskRunStates(writes: readonly TaskRunStateWrite[]): Promise<number[]>;
  listTaskRuns(flowRunId: string): Promise<TaskRun[]>;

  // ── logs ──
  insertLogs(records: readonly Omit<LogEntry, "id">[]): Promise<void>;
  listLogs(
    flowRunId: string,
    query: { limit: number; cursor?: string | undefined },
  ): Promise<Page<LogEntry>>;

  // ── agents and claims ──
  /**
   * Registers an agent, or updates the one of that name. With `owner`, the name
   * belongs to the owner's token from then on; another token may re-register it
   * only when it is unowned, its token is revoked, or `owner.takeOver` (admin);
   * else AGENT_NAME_TAKEN.
   */
  registerAgent(
    input: { name: string; labels: string[]; concurrency: number },
    owner?: AgentOwner,
  ): Promise<Agent>;
  /**
   * Records that an agent is alive. With `holding` (the ids of the runs the
   * agent executes or deploys now), its Submitted runs claimed before
   * `claimedBefore` that it does not hold go back to Scheduled at once: their
   * claim committed but its answer never reached the agent.
   */
  heartbeatAgent(
    id: string,
    report?: { holding: readonly string[]; claimedBefore: Date },
  ): Promise<Agent>;
  getAgent(id: string): Promise<Agent>;
  listAgents(): Promise<Agent[]>;
  /**
   * One conditional update moves up to `limit` due Scheduled runs whose labels
   * are all on the agent to Submitted for it (one winner per run, also across
   * replicas), oldest due first, and returns them with what deploying needs.
   */
  claimFlowRuns(agentId: string, limit: number): Promise<ClaimedRun[]>;
  /** The earliest scheduled start of a Scheduled run this agent could claim (undefined: none). */
  nextDue(agentId: string): Promise<Date | undefined>;

  // ── run health ──
  /**
   * Runs Submitted before `submittedBefore` that never started; Running runs
   * whose last heartbeat (or start) is before `heartbeatBefore`; and, with
   * `agentSeenBefore`, runs whose agent was last seen before it: Submitted ones
   * at once, Running ones when their own last heartbeat is before it too.
   * A limit left out finds nothing of its kind.
   */
  findStaleRuns(limits: {
    submittedBefore?: Date | undefined;
    heartbeatBefore?: Date | undefined;
    agentSeenBefore?: Date | undefined;
  }): Promise<StaleRun[]>;
  /**
   * Puts a stale run back to Scheduled (rescheduleCount + 1) when it was
   * rescheduled fewer than `maxReschedules` times, else fails it; the message
   * says which staleness it was. Versioned: a run that moved on since it was
   * found is left alone (returns undefined).
   */
  recoverStaleRun(stale: StaleRun, maxReschedules: number): Promise<FlowRun | undefined>;

  // ── tokens ──
  /** Makes a token; the secret is returned once and stored only as a hash. */
  createToken(input: {
    name: string;
    scopes: TokenScope[];
  }): Promise<{ token: ApiToken; secret: string }>;
  /** The token's record when `secret` is a valid, unrevoked token (checked in constant time). */
  verifyToken(secret: string): Promise<ApiToken | undefined>;
  revokeToken(idOrName: string): Promise<ApiToken>;
  listTokens(): Promise<ApiToken[]>;
  /** How many unrevoked tokens exist (0: the server may run open on loopback). */
  countActiveTokens(): Promise<number>;

  // ── coordination ──
  /**
   * Calls `listener` after any write of this store that may make a run
   * claimable (a run created, rescheduled or put back to Scheduled), so waiting
   * claims wake at once. Returns the unsubscribe function. Writes of other
   * processes (server replicas) are not seen: waiters also poll.
   */
  onRunsChanged(listener: () => void): () => void;
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

/** How a store is opened. */
export interface StoreOptions {
  /** A SQLite file path, `:memory:`, or a `postgres://` URL. */
  readonly db: string;
  /** The clock (tests move it). @default () => new Date() */
  readonly now?: () => Date;
  /** Where the store reports what it cannot throw (a pooled PostgreSQL connection lost while idle). */
  readonly logger?: Logger;
}
