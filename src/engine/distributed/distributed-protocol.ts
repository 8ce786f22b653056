// What crosses Redis between the distributed executor (in the flow-run process)
// and `weft worker` processes: the job payload, the reply, the value encoding,
// and the names of the keys and channels both sides use. A job carries no code
// and no credentials: the storage's JSON names where code and secrets come from.

import { isDeepStrictEqual } from "node:util";
import { deserialize, serialize } from "node:v8";
import { z } from "zod";
import { WeftError } from "../../core/errors.ts";
import { QUEUE_NAME } from "../../core/executor-spec.ts";
import { LOG_LEVELS } from "../../core/reporter.ts";
import { SIGNAL_KINDS, type SignalKind } from "../../core/signals.ts";
import type { ErrorData } from "../../core/states.ts";
import type { TaskFailure } from "../task-host.ts";

/** The version of the job and reply shapes; a worker refuses others. */
export const PROTOCOL_VERSION = 1;
/** The BullMQ key prefix when none is given. */
export const DEFAULT_PREFIX = "weft";
/** The queue of tasks without a `queue:<name>` tag. */
export const DEFAULT_QUEUE = "default";
/** A task tag `queue:<name>` routes the task to queue `<name>`. */
export const QUEUE_TAG_PREFIX = "queue:";
/** The BullMQ job name of every weft job. */
export const JOB_NAME = "weft-tasks";
/** Inputs and results above this size go by result reference (or are refused without a backend). */
export const DEFAULT_INLINE_LIMIT_BYTES = 1024 * 1024;
/** Queue names: what BullMQ and Redis keys carry without surprise (defined with the executor's schema). */
export { QUEUE_NAME };

/** The queue a task runs on: its first `queue:<name>` tag, else `fallback`. */
export function queueOfTags(tags: readonly string[], fallback: string): string {
  for (const tag of tags) {
    if (tag.startsWith(QUEUE_TAG_PREFIX)) return tag.slice(QUEUE_TAG_PREFIX.length);
  }
  return fallback;
}

/** Sorted set of live workers: member = worker name, score = when its liveness expires (ms). */
export function workersKey(prefix: string): string {
  return `${prefix}:weft:workers`;
}
/** A worker's liveness record (JSON {@link WorkerInfo}), expiring with the worker. */
export function workerInfoKey(prefix: string, name: string): string {
  return `${prefix}:weft:worker:${name}`;
}
/** Pub/sub channel: a message is the id of a cancelled flow run. */
export function cancelChannel(prefix: string): string {
  return `${prefix}:weft:cancel`;
}

/** What a worker says about itself while it lives. */
export const workerInfoSchema = z.object({
  name: z.string(),
  queues: z.array(z.string()),
  concurrency: z.int(),
  pid: z.int(),
  host: z.string(),
  startedAt: z.number(),
  /** Jobs it ran at its last beat (older workers leave it out: unknown). */
  active: z.int().min(0).optional(),
  /** When it last refreshed this record (ms since the epoch). */
  beatAt: z.number().optional(),
});
/** A live worker's record. */
export type WorkerInfo = z.infer<typeof workerInfoSchema>;

/**
 * A value inside a job or a reply: `j` JSON (when JSON carries it exactly), `b`
 * V8's structured-clone format in base64 (Date, Map, Set, typed arrays, BigInt),
 * `r` a location in the flow's result backend, `u` undefined.
 */
export type WireValue =
  | { readonly u: 1 }
  | { readonly j: unknown }
  | { readonly b: string }
  | { readonly r: string };

/** A value encoded for the wire, with its size. */
export interface Encoded {
  readonly wire: WireValue;
  readonly bytes: number;
}

/**
 * Encodes `value`: JSON when JSON carries it exactly, else V8's format. Throws
 * (plain Error, with V8's reason) when neither can: a function, a symbol, a handle.
 */
export function encodeValue(value: unknown): Encoded {
  switch (typeof value) {
    case "undefined":
      return { wire: { u: 1 }, bytes: 1 };
    case "boolean":
      return { wire: { j: value }, bytes: 5 };
    case "number":
      if (Number.isFinite(value) && !Object.is(value, -0)) return { wire: { j: value }, bytes: 24 };
      break;
    case "string":
      return { wire: { j: value }, bytes: value.length + 2 };
    case "object":
      if (value === null) return { wire: { j: null }, bytes: 4 };
      try {
        const text = JSON.stringify(value);
        if (text !== undefined && isDeepStrictEqual(JSON.parse(text), value))
          return { wire: { j: value }, bytes: text.length };
      } catch {
        // Cycles, BigInt members: V8's format below.
      }
      break;
  }
  const bytes = serialize(value);
  return { wire: { b: bytes.toString("base64") }, bytes: bytes.byteLength };
}

/** Decodes an inline value; a reference (`r`) is the caller's to read. */
export function decodeInline(wire: WireValue): unknown {
  if ("j" in wire) return wire.j;
  if ("u" in wire) return undefined;
  if ("b" in wire) return deserialize(Buffer.from(wire.b, "base64"));
  throw new WeftError("INVALID_SERIALIZED", "a result reference is not an inline value");
}

/** True for a well-formed wire value. */
export function isWireValue(value: unknown): value is WireValue {
  if (typeof value !== "object" || value === null) return false;
  const keys = Object.keys(value);
  if (keys.length !== 1) return false;
  const v = (value as Record<string, unknown>)[keys[0]!];
  switch (keys[0]) {
    case "j":
      return true;
    case "u":
      return v === 1;
    case "b":
    case "r":
      return typeof v === "string";
    default:
      return false;
  }
}

const wireValueSchema = z.custom<WireValue>(isWireValue, {
  message: "expected a value {j}, {b}, {r} or {u}",
});

/** One task run of a job: one attempt of one task body (a mapped child has its index). */
export const jobItemSchema = z.strictObject({
  id: z.int(),
  slug: z.string().min(1),
  mapIndex: z.int().min(0).optional(),
  attempt: z.int().min(1),
  args: z.array(wireValueSchema),
  /** The loop iteration after the task threw Loop, with the result it carried (inline). */
  loop: z.strictObject({ count: z.int().min(2), result: wireValueSchema }).optional(),
  /** The task was approved for this run (`context().approved`). */
  approved: z.literal(true).optional(),
});
/** One task run of a job. */
export type JobItem = z.infer<typeof jobItemSchema>;

/** The payload of a job: where the code is, which run, and one or more task runs. */
export const jobDataSchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  origin: z.strictObject({
    /** Identifies storage + location: workers cache the loaded flow by it. */
    key: z.string().min(1),
    storage: z.looseObject({ type: z.string(), schemaVersion: z.int() }),
    location: z.string().min(1),
  }),
  flowRunId: z.string().min(1),
  flowName: z.string().min(1),
  parameters: z.record(z.string(), z.unknown()),
  /** The flow run's result backend as JSON, when it has one (for references). */
  results: z.looseObject({ type: z.string(), schemaVersion: z.int() }).optional(),
  inlineLimitBytes: z.int().min(0),
  items: z.array(jobItemSchema).min(1),
});
/** The payload of a job. */
export type JobData = z.infer<typeof jobDataSchema>;

const errorDataSchema = z.object({
  type: z.string(),
  message: z.string(),
  stack: z.string().optional(),
  code: z.string().optional(),
  hint: z.string().optional(),
});

const logRecordSchema = z.object({
  level: z.enum(LOG_LEVELS),
  message: z.string(),
  time: z.number(),
  flowRunId: z.string(),
  taskSlug: z.string().optional(),
  mapIndex: z.int().optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
});

const itemCommon = {
  id: z.int(),
  /** The attempt the body saw: the item's, plus one per stalled start before it. */
  attempt: z.int().min(1),
  logs: z.array(logRecordSchema).optional(),
};

/** How one task run of a job ended. */
export const itemReplySchema = z.discriminatedUnion("ok", [
  z.strictObject({ ...itemCommon, ok: z.literal(true), value: wireValueSchema }),
  z.strictObject({
    ...itemCommon,
    ok: z.literal(false),
    error: errorDataSchema,
    signal: z.enum(SIGNAL_KINDS).optional(),
    /** What Loop or Succeed carried. */
    result: wireValueSchema.optional(),
    /** Retry's delay (ms). */
    delay: z.number().min(0).optional(),
  }),
]);
/** How one task run of a job ended. */
export type ItemReply = z.infer<typeof itemReplySchema>;

/**
 * The wire form of a failed outcome. The reply keeps the `signal` field of this
 * protocol version ("skip": the body threw Skip; "fail": not retryable), so
 * workers and flow runs of one version agree whichever was built first.
 */
export function failureReply(
  outcome: TaskFailure,
  /** The directive's result (Loop, Succeed), encoded by the caller. */
  result?: WireValue,
): {
  error: z.infer<typeof errorDataSchema>;
  signal?: SignalKind;
  result?: WireValue;
  delay?: number;
} {
  const { retryable, ...error } = outcome.error;
  if (outcome.skipped === true) return { error, signal: "skip" };
  const directive = outcome.directive;
  if (directive !== undefined) {
    if (directive.kind === "pause") return { error, signal: "pause" };
    if (directive.kind === "retry")
      return directive.delay === undefined || !(directive.delay >= 0)
        ? { error, signal: "retry" }
        : { error, signal: "retry", delay: directive.delay };
    return { error, signal: directive.kind, result: result ?? { u: 1 } };
  }
  return retryable === false ? { error, signal: "fail" } : { error };
}

/**
 * A failed item's reply as the task host's outcome (the inverse of
 * {@link failureReply}); `result` is the reply's decoded `result`.
 */
export function failureOfReply(
  reply: Extract<ItemReply, { ok: false }>,
  result?: unknown,
): TaskFailure {
  const error = reply.error as ErrorData;
  switch (reply.signal) {
    case undefined:
      return { ok: false, error };
    case "skip":
      return { ok: false, error, skipped: true };
    case "fail":
      return { ok: false, error: { ...error, retryable: false } };
    case "pause":
      return { ok: false, error, directive: { kind: "pause" } };
    case "retry":
      return { ok: false, error, directive: { kind: "retry", delay: reply.delay } };
    case "loop":
    case "succeed":
      return { ok: false, error, directive: { kind: reply.signal, result } };
  }
}

/** A job's return value: one reply per item, and who ran them. */
export const jobReplySchema = z.strictObject({
  v: z.literal(PROTOCOL_VERSION),
  worker: z.string(),
  items: z.array(itemReplySchema),
  /** Milliseconds from the first item's start to the last one's end on the worker (sizes later jobs). */
  ms: z.number().min(0).optional(),
});
/** A job's return value. */
export type JobReply = z.infer<typeof jobReplySchema>;

/** A result-backend location for a value that travels by reference. */
export function referenceLocation(
  flowRunId: string,
  slug: string,
  mapIndex: number | undefined,
  attempt: number,
  what: string,
): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, "_").replace(/^\.+$/, "_");
  return [
    "_distributed",
    safe(flowRunId),
    safe(slug),
    mapIndex === undefined ? "-" : String(mapIndex),
    String(attempt),
    what,
  ].join("/");
}

/** "1.5 MB" for people. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** The address of a Redis URL for messages: host and port, never the password. */
export function redisAddress(url: string): string {
  try {
    const u = new URL(url);
    const db = u.pathname && u.pathname !== "/" ? u.pathname : "";
    return `${u.protocol}//${u.hostname}:${u.port || "6379"}${db}`;
  } catch {
    return "(an unparseable Redis URL)";
  }
}
