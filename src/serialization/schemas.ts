import { z } from "zod";
import { PARAMETER_TYPES } from "../core/graph.ts";
import { isReservedParameterName, RESERVED_PARAMETER_NAMES } from "../core/parameter.ts";
import { STATE_TYPES } from "../core/states.ts";
import { TRIGGERS } from "../core/triggers.ts";

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

const isoDate = z.iso.datetime({ offset: true });
const slug = z.string().min(1).max(220);

/** A schedule: cron with time zone, fixed interval, or explicit dates; optional bounds. */
export const scheduleSchema = z.discriminatedUnion("type", [
  z.strictObject({
    schemaVersion: z.literal(SCHEMA_VERSIONS.schedule),
    type: z.literal("cron"),
    expression: z.string().min(1),
    timezone: z.string().min(1),
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
  retries: z.int().min(0),
  /** Milliseconds, or "function" when computed per attempt by code. */
  retryDelay: z.union([z.number().min(0), z.literal("function")]),
  timeout: z.number().positive().optional(),
  trigger: z.enum(TRIGGERS),
  skipOnUpstreamSkip: z.boolean(),
  cacheFor: z.number().positive().optional(),
  /** True when a cacheKey function is set in code. */
  cacheKey: z.boolean(),
  tags: z.array(z.string()),
  /** Persist the result in the flow's result backend (absent: when the flow has one). */
  checkpoint: z.boolean().optional(),
  cache: z.literal("content").optional(),
});

/** One task (node) of a flow. */
export const taskSchema = z.strictObject({
  slug,
  name: z.string().min(1),
  kind: z.enum(["task", "parameter", "condition", "merge"]),
  mapped: z.boolean(),
  options: taskOptionsSchema,
});
export type SerializedTask = z.infer<typeof taskSchema>;

/** One edge: data flows from `upstream` into argument `key` of `downstream` ("after" orders only). */
export const edgeSchema = z.strictObject({
  upstream: slug,
  downstream: slug,
  key: z.union([z.int().min(0), z.literal("after")]),
  mapped: z.boolean(),
});
export type SerializedEdge = z.infer<typeof edgeSchema>;

/** A parameter's name: never one that reaches Object.prototype as an object key. */
export const parameterNameSchema = z
  .string()
  .min(1)
  .refine((name) => !isReservedParameterName(name), {
    message: `is reserved (it would reach Object.prototype); ${RESERVED_PARAMETER_NAMES.join(", ")} are never parameter names`,
  });

/** A flow parameter. */
export const parameterSchema = z.strictObject({
  name: parameterNameSchema,
  default: z.json().optional(),
  required: z.boolean(),
  type: z.enum(PARAMETER_TYPES).optional(),
  description: z.string().optional(),
  /** True when a validate function is set in code. */
  validated: z.boolean(),
});
export type SerializedParameter = z.infer<typeof parameterSchema>;

/** The storage kinds weft ships (each has an entry in the storage registry). */
export const STORAGE_TYPES = ["memory", "local", "module", "s3", "git", "http"] as const;
/** The environment kinds weft ships (each has an entry in the environment registry). */
export const ENVIRONMENT_TYPES = ["local", "subprocess", "distributed"] as const;

/** A storage or environment, validated in full by its registry entry. */
export const typedObjectSchema = z.looseObject({
  type: z.string().min(1),
  schemaVersion: z.int().min(1),
});
export type TypedObject = z.infer<typeof typedObjectSchema>;

/** A flow: its graph, plus (once built) where its code is and how it runs. */
export const flowSchema = z.strictObject({
  schemaVersion: z.literal(SCHEMA_VERSIONS.flow),
  name: z.string().min(1),
  description: z.string().optional(),
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
  location: z.string().min(1).optional(),
  labels: z.array(z.string().min(1)),
});
export type SerializedFlow = z.infer<typeof flowSchema>;

/** A task's error as data. */
export const errorDataSchema = z.strictObject({
  type: z.string(),
  message: z.string(),
  stack: z.string().optional(),
  code: z.string().optional(),
  hint: z.string().optional(),
});

/** A state of a task run or flow run. */
export const stateSchema = z.strictObject({
  schemaVersion: z.literal(SCHEMA_VERSIONS.state),
  type: z.enum(STATE_TYPES),
  message: z.string().optional(),
  timestamp: isoDate,
  startedAt: isoDate.optional(),
  attempts: z.int().min(0).optional(),
  retryAt: isoDate.optional(),
  result: z.json().optional(),
  error: errorDataSchema.optional(),
  /** For Mapped: how many children. */
  children: z.int().min(0).optional(),
  /** Where the result is persisted, when the flow has a result backend. */
  location: z.string().min(1).optional(),
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

/**
 * One event of a flow run, as a flow-run process (`weft execute`) reports it to
 * whoever started it: one JSON object per line.
 */
export const runEventSchema = z.discriminatedUnion("event", [
  z.strictObject({
    event: z.literal("flow"),
    state: stateSchema,
    taskCount: z.int().min(0).optional(),
  }),
  z.strictObject({
    event: z.literal("task"),
    slug,
    name: z.string(),
    mapped: z.boolean(),
    mapIndex: z.int().min(0).optional(),
    state: stateSchema,
  }),
  z.strictObject({ event: z.literal("log"), record: logRecordSchema }),
]);
export type RunEvent = z.infer<typeof runEventSchema>;
