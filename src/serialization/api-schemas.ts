// The API's request and response schemas, shared by the server (validation, the OpenAPI
// document) and the typed client, in the order of the route list (src/server/api/routes.ts).
//
// Over 600 lines on purpose: one schema per body, kept beside the records they share so a
// reader finds a route's shapes in one place; the dashboard's are apart (dashboard-schemas.ts).
import { z } from "zod";
import { boundedInt, boundedString, LIMITS } from "./limits.ts";
import {
  flowSchema,
  isoTimeSchema,
  logRecordSchema,
  parameterNameSchema,
  scheduleSchema,
  stateSchema,
  typedObjectSchema,
} from "./schemas.ts";
import { TOKEN_SCOPES } from "./token-scopes.ts";

// The server's API types: one zod schema per request and response body, shared by
// the server (validation, OpenAPI document) and the client (typed calls). Times
// are ISO 8601 strings in UTC (`Date.prototype.toISOString`), so they sort as text.
//
// Names: an entity as the server stores and returns it is `XxxRecord`
// (`FlowRunRecord`, `TaskRunRecord`, `AgentRecord`), so it never reads as the
// in-process object of the same noun: core's `FlowRun` (what `flow.run()` returns)
// or the agent's `Agent` (what `startAgent` returns). Views of a record are named by
// their shape (`FlowSummary`, `FlowDetail`, `FlowRunDetail`, `ClaimedRun`), request
// bodies `XxxRequest`, response bodies `XxxResponse`.

// Every string a request carries is bounded and refuses NUL, and every integer
// fits 32 bits (src/serialization/limits.ts), so SQLite and PostgreSQL accept
// and refuse the same inputs.
const id = boundedString(LIMITS.id).min(1);
// Years 1970–9999 in UTC only: `9999-12-31T23:00:00-05:00` is year 10000 and refused.
const isoTime = isoTimeSchema;
const name = boundedString(LIMITS.name).min(1);
const label = name;
const slug = boundedString(LIMITS.slug).min(1);
const cursor = boundedString(500).min(1);
const pageLimit = z.coerce.number().int().min(1).max(500).default(50);

// In a module of their own, which the CLI's option parsing loads without zod.
export { TOKEN_SCOPES, type TokenScope } from "./token-scopes.ts";

/**
 * Which input an error is about, so that a form can show it by its field:
 * `parameter`, a flow parameter's name (INVALID_PARAMETER, MISSING_PARAMETER,
 * UNKNOWN_PARAMETER); `path`, the request field's path as zod gives it
 * (INVALID_REQUEST: `["parameters", "n"]`, `["approve", 0]`); `task`, a task's
 * slug (UNKNOWN_TASK).
 */
export const apiErrorDetailsSchema = z.strictObject({
  parameter: z.string().optional(),
  path: z.array(z.union([z.string(), z.number()])).optional(),
  task: z.string().optional(),
});
export type ApiErrorDetails = z.infer<typeof apiErrorDetailsSchema>;

/** The body of every error response: `{ error: { code, message, hint?, details? } }`. */
export const apiErrorSchema = z.strictObject({
  error: z.strictObject({
    code: z.string(),
    message: z.string(),
    hint: z.string().optional(),
    details: apiErrorDetailsSchema.optional(),
  }),
});
export type ApiErrorBody = z.infer<typeof apiErrorSchema>;

/** A page of a list; `nextCursor` is absent on the last page. */
export function pageSchema<T extends z.ZodType>(item: T) {
  return z.strictObject({ items: z.array(item), nextCursor: cursor.optional() });
}
/** A page of `T`. */
export interface Page<T> {
  items: T[];
  nextCursor?: string;
}

// ── flows ────────────────────────────────────────────────────────────────────

/** POST /api/flows: register a serialized flow (with storage, environment and location). */
export const registerFlowRequestSchema = z.strictObject({
  flow: flowSchema,
  /** Versions of one flow share a group. @default the flow's name */
  versionGroup: name.optional(),
});
export type RegisterFlowRequest = z.infer<typeof registerFlowRequestSchema>;

/** A registered flow version, without its graph. */
export const flowSummarySchema = z.strictObject({
  id,
  name: z.string(),
  versionGroup: z.string(),
  version: z.int().min(1),
  /** sha256 over the structural content: same code and settings, same hash. */
  contentHash: z.string(),
  labels: z.array(label),
  schedule: scheduleSchema.optional(),
  storage: typedObjectSchema.optional(),
  environment: typedObjectSchema.optional(),
  location: z.string().optional(),
  archived: z.boolean(),
  createdAt: isoTime,
});
export type FlowSummary = z.infer<typeof flowSummarySchema>;

/** GET /api/flows/:id: a flow version with its serialized graph. */
export const flowDetailSchema = flowSummarySchema.extend({ flow: flowSchema });
export type FlowDetail = z.infer<typeof flowDetailSchema>;

/** The answer to a registration: the version, and whether it is new. */
export const registerFlowResponseSchema = z.strictObject({
  flow: flowSummarySchema,
  created: z.boolean(),
});
export type RegisterFlowResponse = z.infer<typeof registerFlowResponseSchema>;

/** GET /api/flows query. */
export const listFlowsQuerySchema = z.strictObject({
  name: name.optional(),
  archived: z.enum(["true", "false", "all"]).default("false"),
  limit: pageLimit,
  cursor: cursor.optional(),
});
export type ListFlowsQuery = z.infer<typeof listFlowsQuerySchema>;

// ── flow runs ────────────────────────────────────────────────────────────────

/** POST /api/flow-runs: exactly one of `flowId` (a version) and `flowName` (its newest unarchived version). */
export const createFlowRunRequestSchema = z
  .strictObject({
    flowId: id.optional(),
    flowName: name.optional(),
    name: name.optional(),
    parameters: z.record(parameterNameSchema, z.json()).default({}),
    /** Extra labels an agent must carry, on top of the flow's. */
    labels: z.array(label).default([]),
    /** A second create with the same key (for the same flow group) returns the first run. */
    idempotencyKey: name.optional(),
    /** When the run becomes due. @default now */
    scheduledStart: isoTime.optional(),
    /** The run whose task creates this one (flows of flows: `startFlowRun`). */
    parentRunId: id.optional(),
    /** That task run: its slug, or `slug[i]` for a mapped child. Needs `parentRunId`. */
    parentTaskRun: boundedString(LIMITS.slug + 13)
      .min(1)
      .optional(),
  })
  .refine((r) => (r.flowId === undefined) !== (r.flowName === undefined), {
    message: "give exactly one of flowId and flowName",
    path: ["flowId"],
  })
  .refine((r) => r.parentTaskRun === undefined || r.parentRunId !== undefined, {
    message: "parentTaskRun needs parentRunId",
    path: ["parentTaskRun"],
  });
export type CreateFlowRunRequest = z.input<typeof createFlowRunRequestSchema>;

/** A flow run as the API shows it. `version` is the row version every state write must carry. */
export const flowRunRecordSchema = z.strictObject({
  id,
  flowId: id,
  flowName: z.string(),
  flowVersion: z.int().min(1),
  name: z.string(),
  parameters: z.record(z.string(), z.json()),
  labels: z.array(label),
  state: stateSchema,
  version: z.int().min(1),
  scheduledStart: isoTime,
  startTime: isoTime.optional(),
  endTime: isoTime.optional(),
  agentId: id.optional(),
  heartbeatAt: isoTime.optional(),
  idempotencyKey: z.string().optional(),
  /** Made by the scheduler (not by a user or the API). */
  autoScheduled: z.boolean(),
  /** How many times run health has put it back to Scheduled. */
  rescheduleCount: z.int().min(0),
  /** How many times an agent claimed it; task-state writes may name the claim they belong to. */
  claimCount: z.int().min(0),
  createdAt: isoTime,
  /** The run whose task created this one (flows of flows). */
  parentRunId: id.optional(),
  /** That task run: `slug`, or `slug[i]` for a mapped child. */
  parentTaskRun: z.string().optional(),
  /** The run this one resumes (POST /api/flow-runs/:id/resume): its persisted results are reused. */
  resumedFrom: id.optional(),
  /** The tasks approved for this run (`manual_only`, or a task that raised `Pause`), by slug. */
  approved: z.array(z.string()).optional(),
});
export type FlowRunRecord = z.infer<typeof flowRunRecordSchema>;

/** The answer to a create: the run, and whether it is new (false: an idempotent repeat). */
export const createFlowRunResponseSchema = z.strictObject({
  run: flowRunRecordSchema,
  created: z.boolean(),
});

/**
 * POST /api/flow-runs/:id/resume: a new run of the same flow version and
 * parameters that resumes the given one (tasks whose results it persisted are
 * not run again), with `approve` (task slugs) approved to run.
 */
export const resumeFlowRunRequestSchema = z.strictObject({
  approve: z.array(slug).max(1000).default([]),
});
export type ResumeFlowRunRequest = z.input<typeof resumeFlowRunRequestSchema>;

/** A task run (one unmapped task, or one mapped child) as the API shows it. */
export const taskRunRecordSchema = z.strictObject({
  id,
  flowRunId: id,
  slug: z.string(),
  /** The child's index for a mapped child; absent for the task itself (or a mapped parent). */
  mapIndex: z.int().min(0).optional(),
  state: stateSchema,
  version: z.int().min(1),
  attempts: z.int().min(0),
  startTime: isoTime.optional(),
  endTime: isoTime.optional(),
  /** Where the result is persisted, when it is. */
  resultRef: z.string().optional(),
});
export type TaskRunRecord = z.infer<typeof taskRunRecordSchema>;

/** A run created by a task of another run, as the parent's detail lists it. */
export const childRunSummarySchema = z.strictObject({
  id,
  name: z.string(),
  flowName: z.string(),
  state: stateSchema,
  /** The parent's task run that created it: `slug` or `slug[i]`. */
  parentTaskRun: z.string().optional(),
});
export type ChildRunSummary = z.infer<typeof childRunSummarySchema>;

/**
 * GET /api/flow-runs/:id: the run, its task runs, its state history (oldest
 * first) and the runs its tasks created (oldest first); with `?include=flow`,
 * also its flow version with the graph.
 */
export const flowRunDetailSchema = flowRunRecordSchema.extend({
  taskRuns: z.array(taskRunRecordSchema),
  history: z.array(stateSchema),
  childRuns: z.array(childRunSummarySchema),
  /**
   * The run's flow version (`GET /api/flows/:flowId`'s answer), only with
   * `?include=flow`: a page that shows the run's graph reads both in one request.
   */
  flow: flowDetailSchema.optional(),
});
export type FlowRunDetail = z.infer<typeof flowRunDetailSchema>;

/** GET /api/flow-runs/:id query: `include=flow` adds the run's flow version to the detail. */
export const getFlowRunQuerySchema = z.strictObject({
  include: z.enum(["flow"]).optional(),
});
export type GetFlowRunQuery = z.infer<typeof getFlowRunQuerySchema>;

/** GET /api/flow-runs query (newest scheduled start first). `state` is a comma-separated list. */
export const listFlowRunsQuerySchema = z.strictObject({
  flowId: id.optional(),
  flowName: name.optional(),
  state: name.optional(),
  agentId: id.optional(),
  /**
   * Only runs whose id starts with this (4 to 36 hex digits or dashes, any
   * case): how the CLI finds a run by the short id its name shows.
   */
  idPrefix: z
    .string()
    .regex(/^[0-9a-fA-F-]{4,36}$/, "4 to 36 hex digits or dashes (the start of a run's id)")
    .optional(),
  /** Only runs scheduled at or after this time. */
  since: isoTime.optional(),
  /** Only runs scheduled before this time. */
  until: isoTime.optional(),
  /** Only runs carrying every one of these labels (comma-separated). */
  labels: boundedString(LIMITS.name * 4)
    .min(1)
    .optional(),
  limit: pageLimit,
  cursor: cursor.optional(),
});
export type ListFlowRunsQuery = z.infer<typeof listFlowRunsQuerySchema>;

/** POST /api/flow-runs/:id/state: a state write, refused unless `version` is the run's current one. */
export const setFlowRunStateRequestSchema = z.strictObject({
  state: stateSchema,
  version: boundedInt(1),
});
export type SetFlowRunStateRequest = z.infer<typeof setFlowRunStateRequestSchema>;

/** POST /api/flow-runs/:id/heartbeat answer: the run's current state (a flow-run process stops on Cancelling). */
export const heartbeatResponseSchema = z.strictObject({
  state: stateSchema,
  version: z.int().min(1),
});

/**
 * One task-run state write. `version` is the task run's current row version
 * (0: it does not exist yet). A write already applied (same version + 1, same
 * state) is accepted again without effect, so a retried batch is idempotent.
 */
export const taskRunStateWriteSchema = z.strictObject({
  flowRunId: id,
  slug,
  mapIndex: boundedInt().optional(),
  state: stateSchema,
  version: boundedInt(),
  /** The flow run's claim this write belongs to: refused once the run was claimed again. */
  claim: boundedInt(1).optional(),
  resultRef: boundedString(LIMITS.location).optional(),
});
export type TaskRunStateWrite = z.infer<typeof taskRunStateWriteSchema>;

/** The most task-run state writes one request may carry. */
export const MAX_TASK_RUN_WRITES = 10_000;

/** POST /api/task-run-states: many writes, applied all or none. */
export const setTaskRunStatesRequestSchema = z.strictObject({
  states: z.array(taskRunStateWriteSchema).min(1).max(MAX_TASK_RUN_WRITES),
});
export type SetTaskRunStatesRequest = z.infer<typeof setTaskRunStatesRequestSchema>;
/** Answer: the new version of each write, in order. */
export const setTaskRunStatesResponseSchema = z.strictObject({ versions: z.array(z.int()) });

// ── logs ─────────────────────────────────────────────────────────────────────

/** POST /api/logs: a batch of log records (`time` in epoch milliseconds). */
export const ingestLogsRequestSchema = z.strictObject({
  // Bounded here rather than in logRecordSchema: a local run's events carry any log message.
  logs: z
    .array(
      logRecordSchema.extend({
        message: boundedString(LIMITS.message),
        flowRunId: id,
        taskSlug: slug.optional(),
        mapIndex: boundedInt().optional(),
      }),
    )
    .min(1)
    .max(10_000),
});
// ── batches of writes across runs ────────────────────────────────────────────

/**
 * One write of a batch (POST /api/run-writes): a flow run's state (as
 * POST /api/flow-runs/:id/state), task-run states (as POST /api/task-run-states,
 * all or none within the write) or log records (as POST /api/logs).
 */
export const runWriteSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("flowRunState"),
    flowRunId: id,
    state: stateSchema,
    version: boundedInt(1),
  }),
  z.strictObject({
    kind: z.literal("taskRunStates"),
    states: setTaskRunStatesRequestSchema.shape.states,
  }),
  z.strictObject({ kind: z.literal("logs"), logs: ingestLogsRequestSchema.shape.logs }),
]);
export type RunWrite = z.infer<typeof runWriteSchema>;
/** POST /api/run-writes: writes of many runs, each applied whole or refused alone. */
export const runWritesRequestSchema = z.strictObject({
  writes: z.array(runWriteSchema).min(1).max(1000),
});
/**
 * The outcome of one write of a batch: `version` (a flow-run state's new row
 * version), `versions` (each task-run state's) or `count` (log records stored); or
 * the error and HTTP status it would have had alone.
 */
export const runWriteResultSchema = z.union([
  z.strictObject({
    ok: z.literal(true),
    version: z.int().optional(),
    versions: z.array(z.int()).optional(),
    count: z.int().optional(),
  }),
  z.strictObject({
    ok: z.literal(false),
    status: z.int(),
    error: apiErrorSchema.shape.error,
  }),
]);
export type RunWriteResult = z.infer<typeof runWriteResultSchema>;
/** Answer of POST /api/run-writes: one result per write, in order. */
export const runWritesResponseSchema = z.strictObject({
  results: z.array(runWriteResultSchema),
});

/** A stored log record. */
export const logEntrySchema = logRecordSchema.extend({ id: z.string() });
export type LogEntry = z.infer<typeof logEntrySchema>;
/** GET /api/flow-runs/:id/logs query (oldest first). */
export const listLogsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(5000).default(500),
  cursor: cursor.optional(),
});

// ── agents ───────────────────────────────────────────────────────────────────

/** POST /api/agents: register (an agent of the same name gets its labels updated and keeps its id). */
export const registerAgentRequestSchema = z.strictObject({
  name,
  labels: z.array(label).default([]),
  /** Runs it executes at once (shown by `runs inspect` when all matching agents are busy). */
  concurrency: z.int().min(1).max(10_000).default(1),
});
export const agentRecordSchema = z.strictObject({
  id,
  name: z.string(),
  labels: z.array(label),
  concurrency: z.int().min(1),
  lastSeen: isoTime,
  createdAt: isoTime,
});
export type AgentRecord = z.infer<typeof agentRecordSchema>;

/**
 * POST /api/agents/:id/heartbeat body. `runs`: the ids of the runs the agent
 * deploys or executes now; the server gives back its claimed (Submitted) runs
 * missing from it, whose claim's answer never reached the agent.
 */
export const agentHeartbeatRequestSchema = z.strictObject({
  runs: z.array(id).max(10_000).optional(),
  /**
   * With `runs`: record each run's heartbeat too, and answer those being cancelled
   * (`cancelling`), so one request beats for every run an agent holds.
   */
  runStates: z.boolean().optional(),
});
export type AgentHeartbeatRequest = z.infer<typeof agentHeartbeatRequestSchema>;
/**
 * POST /api/agents/:id/heartbeat answer: the agent; with `runStates`, the runs of the
 * list that are Cancelling or Cancelled, with their state and row version.
 */
export const agentHeartbeatResponseSchema = agentRecordSchema.extend({
  cancelling: z
    .array(z.strictObject({ id, state: stateSchema, version: z.int().min(1) }))
    .optional(),
});
export type AgentHeartbeatResponse = z.infer<typeof agentHeartbeatResponseSchema>;

/** POST /api/agents/:id/claim: up to `limit` due runs; waits up to `waitMs` for one to become due. */
export const claimRequestSchema = z.strictObject({
  limit: z.int().min(1).max(100).default(1),
  waitMs: z.int().min(0).max(60_000).default(0),
});
/** A claimed run and what an agent needs to deploy it: the flow's storage, environment and location. */
export const claimedRunSchema = z.strictObject({
  run: flowRunRecordSchema,
  flowName: z.string(),
  storage: typedObjectSchema.optional(),
  environment: typedObjectSchema.optional(),
  location: z.string().optional(),
  /**
   * The run's task runs as the server holds them (a rescheduled run's earlier work), so
   * the agent need not read the run again; absent from servers before 0.x.
   */
  taskRuns: z.array(taskRunRecordSchema).optional(),
});
export type ClaimedRun = z.infer<typeof claimedRunSchema>;
export const claimResponseSchema = z.strictObject({ runs: z.array(claimedRunSchema) });

// ── concurrency limits ───────────────────────────────────────────────────────

/** A tag of a task (the key of a concurrency limit). */
const tag = name;

/** One task run holding a slot of a tag's limit. */
export const slotHolderSchema = z.strictObject({
  flowRunId: id,
  taskSlug: slug,
  mapIndex: boundedInt().optional(),
  acquiredAt: isoTime,
});
export type SlotHolder = z.infer<typeof slotHolderSchema>;

/** A concurrency limit: at most `limit` task runs carrying `tag` are Running at once. */
export const concurrencyLimitRecordSchema = z.strictObject({
  tag,
  limit: z.int().min(0),
  /** How many slots are taken now. */
  active: z.int().min(0),
  holders: z.array(slotHolderSchema),
  createdAt: isoTime,
  updatedAt: isoTime,
});
export type ConcurrencyLimitRecord = z.infer<typeof concurrencyLimitRecordSchema>;

/** POST /api/limits: set (create or change) a tag's limit. */
export const setConcurrencyLimitRequestSchema = z.strictObject({
  tag,
  limit: z.int().min(0).max(1_000_000),
});
export type SetConcurrencyLimitRequest = z.infer<typeof setConcurrencyLimitRequestSchema>;

/** POST /api/limits/delete: remove a tag's limit (its waiting task runs start). */
export const deleteConcurrencyLimitRequestSchema = z.strictObject({ tag });

/**
 * POST /api/flow-runs/:id/slots/acquire: one slot of each limited tag for one
 * task run, all or none; waits up to `waitMs` for them (long poll). `claim`, from
 * an agent, is the run's claim: a process of an older claim gets none.
 */
export const acquireSlotsRequestSchema = z.strictObject({
  slug,
  mapIndex: boundedInt().optional(),
  tags: z.array(tag).min(1).max(100),
  claim: boundedInt().optional(),
  waitMs: z.int().min(0).max(60_000).default(0),
});
export type AcquireSlotsRequest = z.infer<typeof acquireSlotsRequestSchema>;

/** The answer: acquired, or the limit the task run waits for (the first full one). */
export const acquireSlotsResponseSchema = z.strictObject({
  acquired: z.boolean(),
  waitingFor: z.strictObject({ tag, limit: z.int().min(0), active: z.int().min(0) }).optional(),
});
export type AcquireSlotsResponse = z.infer<typeof acquireSlotsResponseSchema>;

/** POST /api/flow-runs/:id/slots/release: the slots one task run holds. */
export const releaseSlotsRequestSchema = z.strictObject({
  slug,
  mapIndex: boundedInt().optional(),
});
export type ReleaseSlotsRequest = z.infer<typeof releaseSlotsRequestSchema>;
/** How many slots were freed. */
export const releaseSlotsResponseSchema = z.strictObject({ released: z.int().min(0) });

// ── tokens ───────────────────────────────────────────────────────────────────

/** An API token's record (never its secret). */
export const apiTokenSchema = z.strictObject({
  id,
  name: z.string(),
  scopes: z.array(z.enum(TOKEN_SCOPES)),
  createdAt: isoTime,
  revokedAt: isoTime.optional(),
});
export type ApiToken = z.infer<typeof apiTokenSchema>;

/** POST /api/tokens: make a token (admin). */
export const createTokenRequestSchema = z.strictObject({
  name,
  scopes: z.array(z.enum(TOKEN_SCOPES)).min(1),
});
export type CreateTokenRequest = z.infer<typeof createTokenRequestSchema>;
/** The answer to a token creation: the record and the secret, shown this once. */
export const createTokenResponseSchema = z.strictObject({
  token: apiTokenSchema,
  secret: z.string(),
});
export type CreatedToken = z.infer<typeof createTokenResponseSchema>;

// ── lists, health ────────────────────────────────────────────────────────────

/** A whole list (agents, tokens): small enough never to be paged. */
export function listSchema<T extends z.ZodType>(item: T) {
  return z.strictObject({ items: z.array(item) });
}
/** POST /api/logs answer: how many records were stored. */
export const ingestLogsResponseSchema = z.strictObject({ count: z.int().min(0) });
/** GET /api/health: the process answers. */
export const healthResponseSchema = z.strictObject({ status: z.literal("ok") });
/** GET /api/ready: the database answers and its schema is current (else 503 DATABASE_UNAVAILABLE). */
export const readyResponseSchema = z.strictObject({ status: z.literal("ready") });
/**
 * GET /api/session: who the caller is, so a client (the web UI) offers only what its scope
 * allows. `open` on a server that serves without tokens.
 */
export const sessionResponseSchema = z.strictObject({
  scope: z.enum(["open", ...TOKEN_SCOPES]),
  tokenName: z.string().optional(),
});
export type SessionResponse = z.infer<typeof sessionResponseSchema>;

// ── live events (server-sent events) ─────────────────────────────────────────

/**
 * The event types of the API's streams: `ready` first on every connection and again
 * after the server dropped events for a slow reader (refetch then), `run` (a
 * FlowRunRecord), `task-runs` (the TaskRunRecords a write changed), `logs` (log
 * records as GET /api/flow-runs/:id/logs pages them), `agent` (an AgentRecord).
 */
export const LIVE_EVENT_TYPES = ["ready", "run", "task-runs", "logs", "agent"] as const;
export type LiveEventType = (typeof LIVE_EVENT_TYPES)[number];
/** Why a stream says `ready`: it connected, or it dropped events a slow reader did not take. */
export const LIVE_READY_REASONS = ["connected", "overflow"] as const;
/** The `ready` event's data. */
export const liveReadySchema = z.strictObject({ reason: z.enum(LIVE_READY_REASONS) });
export type LiveReady = z.infer<typeof liveReadySchema>;
/** Each event type's data. */
export const liveEventSchemas = {
  ready: liveReadySchema,
  run: flowRunRecordSchema,
  "task-runs": z.array(taskRunRecordSchema),
  logs: z.array(logEntrySchema),
  agent: agentRecordSchema,
} as const satisfies Record<LiveEventType, z.ZodType>;
/** One event of a stream, typed by its name. */
export type LiveEvent = {
  [K in LiveEventType]: { readonly type: K; readonly data: z.infer<(typeof liveEventSchemas)[K]> };
}[LiveEventType];
/** The events GET /api/events sends. */
export const ALL_RUNS_EVENT_TYPES = ["ready", "run", "agent"] as const satisfies LiveEventType[];
/** The events GET /api/flow-runs/:id/events sends. */
export const FLOW_RUN_EVENT_TYPES = [
  "ready",
  "run",
  "task-runs",
  "logs",
] as const satisfies LiveEventType[];
