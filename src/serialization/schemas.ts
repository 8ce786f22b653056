import { z } from "zod";
import { PARAMETER_TYPES } from "../core/graph.ts";
import { nameProblem } from "../core/names.ts";
import { isReservedParameterName, RESERVED_PARAMETER_NAMES } from "../core/parameter.ts";
import { STATE_TYPES } from "../core/states.ts";
import { TRIGGERS } from "../core/triggers.ts";
import { boundedInt, boundedString, boundedText, LIMITS } from "./limits.ts";

/**
 * The schema version of each serialized object kind. Loading is strict: a
 * version newer than these is refused with an upgrade hint, an older one is
 * migrated explicitly (none exist yet). Tasks and edges live inside a flow and
 * share its version.
 */
export const SCHEMA_VERSIONS = {
  flow: 1,
  state: 1,
  schedule: 1,
  storage: 1,
  environment: 1,
  result: 1,
} as const;
/** A serialized object kind with its own schema version. */
export type SchemaKind = keyof typeof SCHEMA_VERSIONS;

/** The earliest time weft accepts: 1970-01-01T00:00:00.000Z. */
export const MIN_TIME_MS = Date.UTC(1970, 0, 1);
/** The latest time weft accepts: 9999-12-31T23:59:59.999Z. */
export const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * True when `ms` lies in years 1970–9999 in UTC: its `toISOString()` is then the
 * fixed-width `YYYY-MM-DDTHH:mm:ss.sssZ`, so stored times compare as text exactly
 * as they compare as times, on every database.
 */
export function isTimeInRange(ms: number): boolean {
  return Number.isFinite(ms) && ms >= MIN_TIME_MS && ms <= MAX_TIME_MS;
}

/** The message of a time out of range (after conversion to UTC). */
export const TIME_RANGE_MESSAGE = "must be a time in the years 1970 to 9999 once converted to UTC";

/** An ISO 8601 time with an offset, in years 1970–9999 once converted to UTC. */
export const isoTimeSchema = z.iso
  .datetime({ offset: true })
  .refine((text) => isTimeInRange(Date.parse(text)), { message: TIME_RANGE_MESSAGE });

const isoDate = isoTimeSchema;
const slug = boundedString(LIMITS.slug).min(1);
const name = boundedString(LIMITS.name).min(1);
// A flow's name: what core's flow() accepts (core/names.ts), so the server refuses what no flow could be named.
const flowName = name.superRefine((value, ctx) => {
  const problem = nameProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: "custom", message: problem });
});
// Texts inside the stored JSON of a flow or a state: bounded, any character.
const message = boundedText(LIMITS.message);
const location = boundedString(LIMITS.location).min(1);

/** A schedule: cron with time zone, fixed interval, or explicit dates; optional bounds. */
export const scheduleSchema = z.discriminatedUnion("type", [
  z.strictObject({
    schemaVersion: z.literal(SCHEMA_VERSIONS.schedule),
    type: z.literal("cron"),
    expression: name,
    timezone: name,
    start: isoDate.optional(),
    end: isoDate.optional(),
  }),
  z.strictObject({
    schemaVersion: z.literal(SCHEMA_VERSIONS.schedule),
    type: z.literal("interval"),
    every: z.int().min(1000),
    start: isoDate.optional(),
    end: isoDate.optional(),
  }),
  z.strictObject({
    schemaVersion: z.literal(SCHEMA_VERSIONS.schedule),
    type: z.literal("dates"),
    dates: z.array(isoDate),
  }),
]);
export type SerializedSchedule = z.infer<typeof scheduleSchema>;

/** A task's options, as far as JSON can carry them (functions become flags). */
export const taskOptionsSchema = z.strictObject({
  retries: boundedInt(),
  /** Milliseconds, or "function" when computed per attempt by code. */
  retryDelay: z.union([z.number().min(0), z.literal("function")]),
  timeout: z.number().positive().optional(),
  /** A named trigger, or `{ custom: label }` for a trigger function (its name; code stays in code). */
  trigger: z.union([z.enum(TRIGGERS), z.strictObject({ custom: name })]),
  skipOnUpstreamSkip: z.boolean(),
  cacheFor: z.number().positive().optional(),
  /** True when a cacheKey function is set in code. */
  cacheKey: z.boolean(),
  tags: z.array(boundedString(LIMITS.name)),
  /** Persist the result in the flow's result backend (absent: when the flow has one). */
  checkpoint: z.boolean().optional(),
  cache: z.literal("content").optional(),
});

/** One task (node) of a flow. */
export const taskSchema = z.strictObject({
  slug,
  name,
  kind: z.enum(["task", "parameter", "condition", "merge", "setup", "cleanup"]),
  mapped: z.boolean(),
  options: taskOptionsSchema,
});
export type SerializedTask = z.infer<typeof taskSchema>;

/** One edge: data flows from `upstream` into argument `key` of `downstream` ("after" orders only). */
export const edgeSchema = z.strictObject({
  upstream: slug,
  downstream: slug,
  key: z.union([boundedInt(), z.literal("after")]),
  mapped: z.boolean(),
});
export type SerializedEdge = z.infer<typeof edgeSchema>;

/** A parameter's name: never one that reaches Object.prototype as an object key. */
export const parameterNameSchema = name.refine((name) => !isReservedParameterName(name), {
  message: `is reserved (it would reach Object.prototype); ${RESERVED_PARAMETER_NAMES.join(", ")} are never parameter names`,
});

/** A flow parameter. */
export const parameterSchema = z.strictObject({
  name: parameterNameSchema,
  default: z.json().optional(),
  required: z.boolean(),
  type: z.enum(PARAMETER_TYPES).optional(),
  description: message.optional(),
  /** True when a validate function is set in code. */
  validated: z.boolean(),
});
export type SerializedParameter = z.infer<typeof parameterSchema>;

/** The storage kinds weft ships (each has an entry in the storage registry). */
export const STORAGE_TYPES = [
  "memory",
  "local",
  "module",
  "s3",
  "git",
  "http",
  "container",
] as const;
/** The environment kinds weft ships (each has an entry in the environment registry). */
export const ENVIRONMENT_TYPES = [
  "local",
  "subprocess",
  "distributed",
  "container",
  "kubernetes",
] as const;

/** A storage or environment, validated in full by its registry entry. */
export const typedObjectSchema = z.looseObject({
  type: name,
  schemaVersion: boundedInt(1),
});
export type TypedObject = z.infer<typeof typedObjectSchema>;

/** A flow: its graph, plus (once built) where its code is and how it runs. */
export const flowSchema = z.strictObject({
  schemaVersion: z.literal(SCHEMA_VERSIONS.flow),
  name: flowName,
  description: message.optional(),
  parameters: z.array(parameterSchema),
  tasks: z.array(taskSchema),
  edges: z.array(edgeSchema),
  referenceTasks: z.array(slug),
  schedule: scheduleSchema.optional(),
  storage: typedObjectSchema.optional(),
  environment: typedObjectSchema.optional(),
  /** Where task results are persisted. */
  result: typedObjectSchema.optional(),
  /** The flow's location in its storage (set by a build). */
  location: location.optional(),
  labels: z.array(name),
});
export type SerializedFlow = z.infer<typeof flowSchema>;

/** A task's error as data. */
export const errorDataSchema = z.strictObject({
  type: message,
  message,
  stack: message.optional(),
  code: message.optional(),
  hint: message.optional(),
});

/** A state of a task run or flow run. */
export const stateSchema = z.strictObject({
  schemaVersion: z.literal(SCHEMA_VERSIONS.state),
  type: z.enum(STATE_TYPES),
  message: message.optional(),
  timestamp: isoDate,
  startedAt: isoDate.optional(),
  attempts: boundedInt().optional(),
  retryAt: isoDate.optional(),
  result: z.json().optional(),
  error: errorDataSchema.optional(),
  /** For Mapped: how many children. */
  children: boundedInt().optional(),
  /** Where the result is persisted, when the flow has a result backend. */
  location: location.optional(),
});
export type SerializedState = z.infer<typeof stateSchema>;

/** JSON Schema (draft 2020-12) of every object kind, from the same zod schemas. */
export function jsonSchemas(): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const kinds = {
    flow: flowSchema,
    task: taskSchema,
    edge: edgeSchema,
    state: stateSchema,
    schedule: scheduleSchema,
  };
  for (const [kind, schema] of Object.entries(kinds)) {
    out[kind] = z.toJSONSchema(schema, { target: "draft-2020-12", io: "input" });
  }
  return out;
}

/** A log record on the wire. */
export const logRecordSchema = z.strictObject({
  level: z.enum(["debug", "info", "warn", "error"]),
  message: z.string(),
  time: z.number(),
  flowRunId: z.string(),
  taskSlug: z.string().optional(),
  mapIndex: z.int().min(0).optional(),
  fields: z.record(z.string(), z.unknown()).optional(),
});
