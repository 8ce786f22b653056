// The web UI dashboard's answer (GET /api/dashboard): its query and response schemas, shared
// by the server (validation, OpenAPI document) and the client, as api-schemas.ts does for
// the rest of the API (kept apart so that file stays one screenful of routes shorter).
import { z } from "zod";
import { agentRecordSchema } from "./api-schemas.ts";
import { boundedString, LIMITS } from "./limits.ts";
import { isoTimeSchema as isoTime } from "./schemas.ts";

const id = boundedString(LIMITS.id).min(1);

// ── dashboard ────────────────────────────────────────────────────────────────

/** The width of the dashboard's time buckets. */
export const DASHBOARD_BUCKETS = ["hour", "day"] as const;
export type DashboardBucket = (typeof DASHBOARD_BUCKETS)[number];

/**
 * GET /api/dashboard query. `since` @default 24 h ago (at most 366 days back);
 * `bucket` @default hour up to 72 h back, else day.
 */
export const dashboardQuerySchema = z.strictObject({
  since: isoTime.optional(),
  bucket: z.enum(DASHBOARD_BUCKETS).optional(),
});
export type DashboardQuery = z.infer<typeof dashboardQuerySchema>;

/** Finished runs of one bucket, by final state type. */
export const dashboardBucketSchema = z.strictObject({
  /** The bucket's start (UTC). */
  start: isoTime,
  counts: z.record(z.string(), z.int().min(0)),
});

/** A failed run of the window, with the task that failed first and its message. */
export const dashboardFailureSchema = z.strictObject({
  runId: id,
  runName: z.string(),
  flowName: z.string(),
  state: z.string(),
  endTime: isoTime,
  /** The run's own state message. */
  message: z.string().optional(),
  /** The first task run that failed (by end time), when one did. */
  task: z
    .strictObject({
      slug: z.string(),
      mapIndex: z.int().min(0).optional(),
      state: z.string(),
      message: z.string().optional(),
    })
    .optional(),
});
export type DashboardFailure = z.infer<typeof dashboardFailureSchema>;

/** A Scheduled run and why it has not started (the reason `weft runs inspect` gives). */
export const dashboardWaitingSchema = z.strictObject({
  runId: id,
  runName: z.string(),
  flowName: z.string(),
  labels: z.array(z.string()),
  scheduledStart: isoTime,
  reason: z.string(),
});
export type DashboardWaiting = z.infer<typeof dashboardWaitingSchema>;

/** A live worker of the distributed executor, as it describes itself in Redis. */
export const dashboardWorkerSchema = z.strictObject({
  name: z.string(),
  /** The queues it serves (what its tasks' `queue` option names). */
  queues: z.array(z.string()),
  /** Jobs it runs at once per queue. */
  concurrency: z.int().min(0),
  /** Jobs it was running at its last heartbeat; absent when the worker does not say. */
  active: z.int().min(0).optional(),
  host: z.string(),
  pid: z.int(),
  startedAt: isoTime,
  /** Its last heartbeat; absent when the worker does not say. */
  lastHeartbeat: isoTime.optional(),
});
export type DashboardWorker = z.infer<typeof dashboardWorkerSchema>;

/**
 * The distributed executor's workers. The server lists them only when it was
 * given their Redis (`--redis`): `source` then says which (address and key
 * prefix, never a password), and `error` why they could not be read this time.
 */
export const dashboardWorkersSchema = z.strictObject({
  source: z.string().optional(),
  items: z.array(dashboardWorkerSchema),
  error: z.string().optional(),
});
export type DashboardWorkers = z.infer<typeof dashboardWorkersSchema>;

/** GET /api/dashboard: the dashboard's aggregates in one answer. */
export const dashboardResponseSchema = z.strictObject({
  since: isoTime,
  now: isoTime,
  bucket: z.enum(DASHBOARD_BUCKETS),
  /** Oldest first; every bucket of the window, empty ones included. */
  buckets: z.array(dashboardBucketSchema),
  /** Failed runs that ended in the last 24 h, newest first (at most 20). */
  failures: z.array(dashboardFailureSchema),
  /** How many runs failed in the last 24 h. */
  failureCount: z.int().min(0),
  /** Every agent with the runs it holds now (Submitted or Running). */
  agents: z.array(agentRecordSchema.extend({ running: z.int().min(0) })),
  /** The distributed executor's live workers, when the server knows their Redis. */
  workers: dashboardWorkersSchema,
  /** Scheduled runs that are due, oldest first (at most 20), each with its reason. */
  waiting: z.array(dashboardWaitingSchema),
  /** How many Scheduled runs are due now. */
  waitingCount: z.int().min(0),
  /** How many runs are Running now. */
  runningCount: z.int().min(0),
});
export type DashboardResponse = z.infer<typeof dashboardResponseSchema>;
