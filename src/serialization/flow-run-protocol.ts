// What crosses between a process that starts a flow run (the subprocess environment, through
// its storage's env runner) and the flow-run process it starts (`weft execute`): the
// environment variables that say which run to run, and the JSON lines the child writes on
// descriptor WEFT_EVENTS_FD while it runs. Both sides import this module, so a variable is
// named, encoded and checked in one place (as distributed-protocol.ts does for Redis jobs).
//
// Contracts:
// - Variables are strings; an empty one means unset, so that a parent can clear a value it
//   inherited from its own environment (a parent's WEFT_EXECUTOR must not pick the child's).
// - Every malformed variable is refused as ENV_VAR_INVALID naming it; the child exits 2.
// - Event lines carry states in their one wire form (SerializedState, without results: those
//   stay in the flow-run process). The parent forwards them as data to a reporter that takes
//   data (the agent's API reporter); only observers that want State objects get them rebuilt.
// - Without a descriptor (a container), event lines travel on stdout behind a per-run marker
//   (WEFT_EVENTS_MARKER; see "events on stdout" below).
// - The child's final flow event is the run's outcome: the parent resolves `execute` with it
//   and does not pass it on as an event (environment.ts reports it once, from the outcome).

import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { WeftError } from "../core/errors.ts";
import type { FlowRunInfo, LogRecord, Reporter, TaskInfo } from "../core/reporter.ts";
import type { State } from "../core/states.ts";
import { gateEventSchema } from "./flow-run-gate.ts";
import { stateFromJSON, stateToJSON } from "./flow-serializer.ts";
import { boundedString, LIMITS } from "./limits.ts";
import { logRecordSchema, type SerializedState, stateSchema } from "./schemas.ts";

// ---------------------------------------------------------------- variables

/** The variables of the protocol, each with what it carries. */
export const FLOW_RUN_VARIABLES = {
  /** The flow's location in its storage. Set by the storage's env runner. Required. */
  location: "WEFT_FLOW_LOCATION",
  /** The storage as JSON (`storage.toJSON()`). Set by the storage's env runner. Required. */
  storage: "WEFT_STORAGE",
  /** The flow run's id. @default a fresh id */
  flowRunId: "WEFT_FLOW_RUN_ID",
  /** Parameter values as a JSON object. @default {} */
  parameters: "WEFT_PARAMETERS",
  /** A file holding WEFT_PARAMETERS' JSON, for values too large for a variable; wins over it. */
  parametersFile: "WEFT_PARAMETERS_FILE",
  /** The executor: a kind (`serial`) or its options as JSON. @default the flow's own */
  executor: "WEFT_EXECUTOR",
  /** The descriptor (3 or more) of a pipe for event lines; without it, progress goes to stderr. */
  eventsFd: "WEFT_EVENTS_FD",
  /**
   * Where no descriptor can be passed (a container): event lines go to stdout, each after the
   * prefix this marker makes ({@link eventLinePrefix}); everything else on stdout is output.
   */
  eventsMarker: "WEFT_EVENTS_MARKER",
  /** `1`: stop, with everything started, when stdin (held open by the parent) closes. */
  exitWithParent: "WEFT_EXIT_WITH_PARENT",
  /** A restarted run: the id of the run whose persisted results may be reused. */
  resume: "WEFT_RESUME",
  /** Tasks approved for this run (`manual_only`, or `Pause`): a JSON array of task slugs. */
  approve: "WEFT_APPROVE",
  /** `1`: tagged task runs ask the parent for concurrency slots (flow-run-gate.ts). */
  taskGate: "WEFT_TASK_GATE",
} as const;

/** One of the protocol's variable names. */
export type FlowRunVariable = (typeof FLOW_RUN_VARIABLES)[keyof typeof FLOW_RUN_VARIABLES];

/** Parameters larger than this (bytes of JSON) go to the child in a file rather than WEFT_PARAMETERS. */
export const PARAMETERS_IN_ENV_MAX = 64 * 1024;

const V = FLOW_RUN_VARIABLES;
const EVENTS_MARKER = /^[A-Za-z0-9_-]{16,64}$/;
const NOT_SET_HINT = "weft execute is started by agents and environments, which set it";

// An empty variable is an unset one.
const unsetIfEmpty = (value: unknown) => (value === "" ? undefined : value);

function json(name: FlowRunVariable) {
  return z.string().transform((text, ctx): unknown => {
    try {
      return JSON.parse(text);
    } catch (error) {
      ctx.addIssue({
        code: "custom",
        message: `${name} is not valid JSON: ${(error as Error).message}`,
      });
      return z.NEVER;
    }
  });
}

function slugList(name: FlowRunVariable) {
  return json(name).transform((value, ctx): string[] => {
    if (!Array.isArray(value) || !value.every((v) => typeof v === "string" && v !== "")) {
      ctx.addIssue({ code: "custom", message: `${name} must be a JSON array of task slugs` });
      return z.NEVER;
    }
    return value as string[];
  });
}

function parameterObject(name: FlowRunVariable) {
  return json(name).transform((value, ctx): Record<string, unknown> => {
    if (value === null || typeof value !== "object" || Array.isArray(value)) {
      ctx.addIssue({
        code: "custom",
        message: `${name} must be a JSON object of parameter values`,
      });
      return z.NEVER;
    }
    return value as Record<string, unknown>;
  });
}

/**
 * The variables as the child reads them (strings in, typed settings out). Messages name the
 * variable, since they become the child's one-line error.
 */
export const flowRunEnvSchema = z
  .object({
    [V.location]: z.preprocess(unsetIfEmpty, z.string().optional()),
    [V.storage]: z.preprocess(unsetIfEmpty, json(V.storage).optional()),
    [V.flowRunId]: z.preprocess(unsetIfEmpty, z.string().optional()),
    [V.parameters]: z.preprocess(unsetIfEmpty, parameterObject(V.parameters).optional()),
    [V.parametersFile]: z.preprocess(unsetIfEmpty, z.string().optional()),
    // A bare kind, or JSON (an object, or a quoted kind); the engine checks the options.
    [V.executor]: z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .transform((text, ctx): unknown => {
          if (!text.startsWith("{") && !text.startsWith('"')) return text;
          try {
            return JSON.parse(text);
          } catch (error) {
            ctx.addIssue({
              code: "custom",
              message: `${V.executor} is not valid JSON: ${(error as Error).message}`,
            });
            return z.NEVER;
          }
        })
        .optional(),
    ),
    [V.eventsFd]: z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .transform((text, ctx): number => {
          const n = Number(text);
          if (!Number.isInteger(n) || n < 3) {
            ctx.addIssue({
              code: "custom",
              message: `${V.eventsFd} must be a descriptor number of 3 or more, got ${JSON.stringify(text)}`,
            });
            return z.NEVER;
          }
          return n;
        })
        .optional(),
    ),
    [V.eventsMarker]: z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .regex(EVENTS_MARKER, {
          error: (issue) =>
            `${V.eventsMarker} must be 16 to 64 letters, digits, _ or -, got ${JSON.stringify(issue.input)}`,
        })
        .optional(),
    ),
    [V.exitWithParent]: z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .refine((text) => text === "1", {
          error: (issue) =>
            `${V.exitWithParent} must be 1 (or unset), got ${JSON.stringify(issue.input)}`,
        })
        .optional(),
    ),
    [V.resume]: z.preprocess(unsetIfEmpty, z.string().optional()),
    [V.approve]: z.preprocess(unsetIfEmpty, slugList(V.approve).optional()),
    [V.taskGate]: z.preprocess(
      unsetIfEmpty,
      z
        .string()
        .refine((text) => text === "1", {
          error: (issue) =>
            `${V.taskGate} must be 1 (or unset), got ${JSON.stringify(issue.input)}`,
        })
        .optional(),
    ),
  })
  .superRefine((vars, ctx) => {
    for (const name of [V.location, V.storage]) {
      if (vars[name] === undefined) {
        ctx.addIssue({ code: "custom", path: [name], message: `${name} is not set` });
      }
    }
  });

/** What the variables say, checked: everything `weft execute` needs to run one flow run. */
export interface FlowRunSettings {
  readonly location: string;
  /** The storage's JSON, for the storage registry to rebuild (and check). */
  readonly storage: unknown;
  readonly flowRunId?: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** A kind or the executor's options, unchecked: the engine checks them. */
  readonly executor?: unknown;
  readonly eventsFd?: number;
  /** Event lines go to stdout after this marker's prefix (see {@link eventLinePrefix}). */
  readonly eventsMarker?: string;
  readonly exitWithParent: boolean;
  readonly resume?: string;
  /** Task slugs approved for this run. */
  readonly approve?: readonly string[];
  /** Tagged task runs ask the parent for concurrency slots. */
  readonly taskGate: boolean;
}

/**
 * Reads the protocol's variables from `env` (a process's environment, with flags already
 * laid over it). Throws ENV_VAR_INVALID naming the first variable that is wrong. The
 * exit-with-parent switch is checked first: a child told to die with its parent must not
 * outlive it because another variable was wrong.
 */
export function readFlowRunEnv(env: Readonly<Record<string, string | undefined>>): FlowRunSettings {
  const parsed = flowRunEnvSchema.safeParse(pick(env));
  if (!parsed.success) {
    const issues = parsed.error.issues;
    const first =
      issues.find((i) => i.path[0] === V.exitWithParent) ??
      issues.find((i) => i.message.endsWith("is not set")) ??
      issues[0];
    const message = first?.message ?? "the flow-run variables are malformed";
    throw new WeftError(
      "ENV_VAR_INVALID",
      message,
      message.endsWith("is not set") ? { hint: NOT_SET_HINT } : undefined,
    );
  }
  const vars = parsed.data;
  const flowRunId = vars[V.flowRunId];
  const executor = vars[V.executor];
  const eventsFd = vars[V.eventsFd];
  const eventsMarker = vars[V.eventsMarker];
  const resume = vars[V.resume];
  const approve = vars[V.approve];
  // Large parameters come in a file (the subprocess environment writes one past 64 KiB).
  const file = vars[V.parametersFile];
  const parameters =
    file === undefined
      ? (vars[V.parameters] ?? {})
      : parseOrThrow(parameterObject(V.parametersFile), readParametersFile(file));
  return {
    location: vars[V.location]!,
    storage: vars[V.storage],
    ...(flowRunId === undefined ? {} : { flowRunId }),
    parameters,
    ...(executor === undefined ? {} : { executor }),
    ...(eventsFd === undefined ? {} : { eventsFd }),
    ...(eventsMarker === undefined ? {} : { eventsMarker }),
    exitWithParent: vars[V.exitWithParent] === "1",
    ...(resume === undefined ? {} : { resume }),
    ...(approve === undefined || approve.length === 0 ? {} : { approve }),
    taskGate: vars[V.taskGate] === "1",
  };
}

function pick(env: Readonly<Record<string, string | undefined>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.values(V)) out[name] = env[name];
  return out;
}

function parseOrThrow<T>(schema: z.ZodType<T, string>, text: string): T {
  const parsed = schema.safeParse(text);
  if (parsed.success) return parsed.data;
  throw new WeftError("ENV_VAR_INVALID", parsed.error.issues[0]?.message ?? "malformed");
}

function readParametersFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new WeftError(
      "ENV_VAR_INVALID",
      `${V.parametersFile} ${file} cannot be read: ${(error as Error).message}`,
    );
  }
}

/** The variables that say where a flow's code is: what a storage's env runner sets. */
export function codeVariables(storageJson: unknown, location: string): Record<string, string> {
  return { [V.location]: location, [V.storage]: JSON.stringify(storageJson) };
}

/** What the parent of a flow-run process says about the run (the rest of the variables). */
export interface RunVariables {
  readonly flowRunId: string;
  /** The parameters' JSON, or a file holding it (then WEFT_PARAMETERS is cleared). */
  readonly parameters: { readonly json: string } | { readonly file: string };
  readonly executor?: unknown;
  readonly eventsFd?: number;
  readonly eventsMarker?: string;
  readonly exitWithParent?: boolean;
  readonly resume?: string;
  /** Task slugs approved for this run. */
  readonly approve?: readonly string[];
  /** The parent answers the child's gate requests on its stdin. */
  readonly taskGate?: boolean;
}

/**
 * The variables of one run, every one of them set or cleared (empty), so that nothing the
 * parent inherited leaks into the child's run.
 */
export function runVariables(run: RunVariables): Record<string, string> {
  const p = run.parameters;
  return {
    [V.flowRunId]: run.flowRunId,
    [V.parameters]: "json" in p ? p.json : "",
    [V.parametersFile]: "file" in p ? p.file : "",
    [V.eventsFd]: run.eventsFd === undefined ? "" : String(run.eventsFd),
    [V.eventsMarker]: run.eventsMarker ?? "",
    [V.exitWithParent]: run.exitWithParent ? "1" : "",
    [V.executor]: run.executor === undefined ? "" : JSON.stringify(run.executor),
    [V.resume]: run.resume ?? "",
    [V.approve]: run.approve?.length ? JSON.stringify(run.approve) : "",
    [V.taskGate]: run.taskGate ? "1" : "",
  };
}

// ---------------------------------------------------------------- event lines

const slug = boundedString(LIMITS.slug).min(1);

/** One event of a flow run, as the flow-run process writes it: one JSON object per line. */
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
  gateEventSchema,
]);
/** One parsed event line. */
export type RunEvent = z.infer<typeof runEventSchema>;

/** A state in its wire form: versioned JSON without the result (results stay where they ran). */
export function stateToWire(state: State): SerializedState {
  const json = stateToJSON(state);
  if (json.result === undefined) return json;
  const { result: _dropped, ...rest } = json;
  return rest;
}

/**
 * A reporter that writes every event as one JSON line: what `weft execute` sends to the
 * process that started it.
 */
export function createEventWriter(write: (line: string) => void): Reporter {
  const send = (event: RunEvent) => write(`${JSON.stringify(event)}\n`);
  return {
    flowState: (run, state) =>
      send({ event: "flow", state: stateToWire(state), taskCount: run.taskCount }),
    taskState: (_run, task, mapIndex, state) =>
      send({
        event: "task",
        slug: task.slug,
        name: task.name,
        mapped: task.mapped,
        ...(mapIndex === undefined ? {} : { mapIndex }),
        state: stateToWire(state),
      }),
    log: (record) => send({ event: "log", record: record as RunEvent & LogRecord }),
  };
}

// ---------------------------------------------------------------- events on stdout
//
// A container has no descriptor 3, and its network may be off: its flow-run process writes
// event lines on stdout instead, each as ONE write of `<prefix><json>\n`, where the prefix is
// a record separator (U+001E) and a marker fresh for each run, which the parent chose and
// no task's output can guess. The parent splits the stream into lines (after separating
// stdout from stderr); a line holding the prefix carries an event after it, and whatever came
// before the prefix on that line (a task's output without a newline) is output, like every
// line without the prefix.

/** A fresh marker for one run's events on stdout (WEFT_EVENTS_MARKER). */
export function createEventsMarker(): string {
  return randomBytes(12).toString("hex");
}

/** What precedes every event line on stdout for `marker`. */
export function eventLinePrefix(marker: string): string {
  return `\u001eweft-event:${marker} `;
}

/** One stdout line split into a task's output and an event line, either possibly absent. */
export function splitEventLine(
  line: string,
  prefix: string,
): { readonly output?: string; readonly event?: string } {
  const at = line.indexOf(prefix);
  if (at < 0) return { output: line };
  const event = line.slice(at + prefix.length);
  return at === 0 ? { event } : { output: line.slice(0, at), event };
}

/** Parses one event line (strictly), naming what is wrong. */
export function parseEventLine(line: string): RunEvent {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw new WeftError("INVALID_SERIALIZED", `run event is not JSON: ${(error as Error).message}`);
  }
  const parsed = runEventSchema.safeParse(value);
  if (!parsed.success)
    throw new WeftError(
      "INVALID_SERIALIZED",
      `run event is malformed: ${parsed.error.issues[0]?.message ?? "?"}`,
    );
  return parsed.data;
}

/**
 * A reporter that also takes states already in their wire form (the agent's API reporter):
 * events from a flow-run process are handed to it as they came, not rebuilt into State
 * objects only to be serialized again. A capability, checked with {@link takesWireStates}.
 */
export interface WireReporter extends Reporter {
  wireFlowState(run: FlowRunInfo, state: SerializedState): void;
  wireTaskState(
    run: FlowRunInfo,
    task: TaskInfo,
    mapIndex: number | undefined,
    state: SerializedState,
  ): void;
}

/** True when `reporter` takes wire states ({@link WireReporter}). */
export function takesWireStates(reporter: Reporter): reporter is WireReporter {
  const r = reporter as Partial<WireReporter>;
  return typeof r.wireTaskState === "function" && typeof r.wireFlowState === "function";
}

/**
 * Passes one event from a flow-run process on to `reporter`: as data to a
 * {@link WireReporter}, else with its state rebuilt. A flow event's task count updates
 * `run` (the parent learns it from the child's first flow event).
 */
export function forwardEvent(
  event: RunEvent,
  reporter: Reporter,
  run: { -readonly [K in keyof FlowRunInfo]: FlowRunInfo[K] },
): void {
  const wire = takesWireStates(reporter);
  switch (event.event) {
    case "flow":
      if (event.taskCount !== undefined) run.taskCount = event.taskCount;
      if (wire) reporter.wireFlowState(run, event.state);
      else reporter.flowState?.(run, stateFromJSON(event.state));
      return;
    case "task": {
      const task = { slug: event.slug, name: event.name, mapped: event.mapped };
      if (wire) reporter.wireTaskState(run, task, event.mapIndex, event.state);
      else reporter.taskState?.(run, task, event.mapIndex, stateFromJSON(event.state));
      return;
    }
    case "log":
      reporter.log?.(event.record as LogRecord);
      return;
    case "gate":
      // Answered by the parent's gate (flow-run-gate.ts), never a reporter's business.
      return;
  }
}
