// Executor kinds as data: what a flow, a flag or an environment's JSON may say about
// where task bodies run. Each kind has one descriptor here (type, one zod schema of its
// options, capabilities, command-line flags with help), which the engine's resolution
// (engine/executors/create-executor.ts adds each kind's constructor), the environments'
// JSON schemas and the CLI's flags all use: an executor's options are validated in one
// place, with one set of messages. The descriptors live in core because every part that
// checks executor options (engine, environments, serialization) may import core and
// nothing else in common.

import { z } from "zod";
import { WeftError } from "./errors.ts";

/** Where task functions run. */
export const EXECUTOR_KINDS = ["serial", "concurrent", "worker-threads", "distributed"] as const;
/** One of {@link EXECUTOR_KINDS}. */
export type ExecutorKind = (typeof EXECUTOR_KINDS)[number];

/** Serial: one task run at a time, in this thread. */
export interface SerialExecutorOptions {
  type: "serial";
}
/** Concurrent (the default): async task runs overlap in this thread, up to a bound. */
export interface ConcurrentExecutorOptions {
  type: "concurrent";
  /** Task runs in flight at once. @default 100 */
  maxConcurrency?: number;
}
/** Worker threads: task bodies run in a pool of threads; timeouts are hard. */
export interface WorkerThreadsExecutorOptions {
  type: "worker-threads";
  /** Threads in the pool. @default os.availableParallelism() */
  maxWorkers?: number;
  /** Task runs in flight at once (sent to the pool in batches). @default 512 × maxWorkers */
  maxConcurrency?: number;
}

/**
 * Distributed: task bodies run as BullMQ jobs on `weft worker` processes. It is
 * made by the distributed environment, which knows the flow's storage (its
 * `origin`); a flow does not name it itself.
 */
export interface DistributedExecutorOptions {
  type: "distributed";
  /** The Redis URL, resolved (never serialized: the environment keeps an `env:NAME` reference). */
  redisUrl: string;
  /** Where workers load the flow's code from: the storage as JSON and the flow's location. */
  origin: { storage: { type: string; schemaVersion: number }; location: string };
  /** The queue of tasks without a `queue:<name>` tag. @default "default" */
  queue?: string;
  /** The BullMQ key prefix (workers must use the same). @default "weft" */
  prefix?: string;
  /** Task runs in flight at once. @default 1000 */
  maxInFlight?: number;
  /** Most task runs in one job (jobs are also sized by what a task costs on a worker). @default 1000 */
  maxChunk?: number;
  /** Inputs and results above this many bytes go by result reference. @default 1 MiB */
  inlineLimitBytes?: number;
  /** A task waiting this long on a queue no live worker serves fails as not started. @default 30000 */
  noWorkerTimeoutMs?: number;
}

/** An executor by name (with defaults) or with options. */
export type ExecutorSpec =
  | ExecutorKind
  | SerialExecutorOptions
  | ConcurrentExecutorOptions
  | WorkerThreadsExecutorOptions
  | DistributedExecutorOptions;

/** Queue names: what BullMQ and Redis keys carry without surprise. */
export const QUEUE_NAME = /^[A-Za-z0-9_.-]{1,100}$/;

/** What every executor of a kind does, known from its type alone. */
export interface ExecutorCapabilities {
  /** Task bodies run in this process (its thread or its worker threads), not on other machines. */
  readonly inProcess: boolean;
  /** Task bodies run on the thread of the flow run (so an unsettled body keeps the run's process busy). */
  readonly sameThread: boolean;
  /** A timeout stops the task body (thread or process boundary), not just abandons it. */
  readonly hardTimeouts: boolean;
  /** Task bodies load the flow again elsewhere: the flow's storage must be one other processes can load. */
  readonly needsShareableStorage: boolean;
  /**
   * A flow may name it (in code, `--executor`, an environment's JSON). False for the
   * distributed executor, which its environment makes (it knows the flow's storage).
   */
  readonly chosenByFlow: boolean;
}

/** One command-line flag of an executor kind (the CLI derives `--max-workers <n>` and its help). */
export interface ExecutorFlag {
  /** Commander's spelling, e.g. `--max-workers <n>`. */
  readonly flag: string;
  readonly help: string;
}

/** One executor kind: its tag, the one schema of its options, capabilities and flags. */
export interface ExecutorKindSpec<O extends { type: ExecutorKind } = { type: ExecutorKind }> {
  readonly type: O["type"];
  /** A strict zod object schema of the options (with the `type` literal). */
  readonly schema: z.ZodType<O>;
  readonly capabilities: ExecutorCapabilities;
  /** The options the command line sets, by option key. */
  readonly flags: Readonly<Record<string, ExecutorFlag>>;
  /** How to fix bad options, when the kind has one hint for all of them. */
  readonly hint?: string;
}

const positive = z.int().min(1).optional();
const MAX_CONCURRENCY: ExecutorFlag = {
  flag: "--max-concurrency <n>",
  help: "task runs in flight at once",
};

/** serial: one task run at a time, in this thread. */
export const serialExecutorSpec: ExecutorKindSpec<SerialExecutorOptions> = {
  type: "serial",
  schema: z.strictObject({ type: z.literal("serial") }),
  capabilities: {
    inProcess: true,
    sameThread: true,
    hardTimeouts: false,
    needsShareableStorage: false,
    chosenByFlow: true,
  },
  flags: {},
};

/** concurrent: async task runs overlap in this thread. */
export const concurrentExecutorSpec: ExecutorKindSpec<ConcurrentExecutorOptions> = {
  type: "concurrent",
  schema: z.strictObject({
    type: z.literal("concurrent"),
    maxConcurrency: positive,
  }) as z.ZodType<ConcurrentExecutorOptions>,
  capabilities: {
    inProcess: true,
    sameThread: true,
    hardTimeouts: false,
    needsShareableStorage: false,
    chosenByFlow: true,
  },
  flags: { maxConcurrency: MAX_CONCURRENCY },
};

/** worker-threads: task bodies in a pool of threads; timeouts are hard. */
export const workerThreadsExecutorSpec: ExecutorKindSpec<WorkerThreadsExecutorOptions> = {
  type: "worker-threads",
  schema: z.strictObject({
    type: z.literal("worker-threads"),
    maxWorkers: positive,
    maxConcurrency: positive,
  }) as z.ZodType<WorkerThreadsExecutorOptions>,
  capabilities: {
    inProcess: true,
    sameThread: false,
    hardTimeouts: true,
    needsShareableStorage: false,
    chosenByFlow: true,
  },
  flags: {
    maxConcurrency: MAX_CONCURRENCY,
    maxWorkers: { flag: "--max-workers <n>", help: "threads in the pool" },
  },
};

/** distributed: task bodies as BullMQ jobs on `weft worker` processes (made by its environment). */
export const distributedExecutorSpec: ExecutorKindSpec<DistributedExecutorOptions> = {
  type: "distributed",
  schema: z.strictObject({
    type: z.literal("distributed"),
    redisUrl: z.string().min(1),
    origin: z.strictObject({
      storage: z.looseObject({ type: z.string(), schemaVersion: z.int() }),
      location: z.string().min(1),
    }),
    queue: z.string().regex(QUEUE_NAME).optional(),
    prefix: z.string().regex(QUEUE_NAME).optional(),
    maxInFlight: z.int().min(1).optional(),
    maxChunk: z.int().min(1).optional(),
    inlineLimitBytes: z.int().min(0).optional(),
    noWorkerTimeoutMs: z.int().min(0).optional(),
  }) as z.ZodType<DistributedExecutorOptions>,
  capabilities: {
    inProcess: false,
    sameThread: false,
    hardTimeouts: false,
    needsShareableStorage: true,
    chosenByFlow: false,
  },
  flags: {},
  hint: "the distributed executor is made by the distributed environment: run with --environment distributed",
};

/** Every executor kind, by type. */
export const EXECUTOR_SPECS: { readonly [K in ExecutorKind]: ExecutorKindSpec } = {
  serial: serialExecutorSpec,
  concurrent: concurrentExecutorSpec,
  "worker-threads": workerThreadsExecutorSpec,
  distributed: distributedExecutorSpec as ExecutorKindSpec,
};

/** The kinds a flow may name (`--executor`, an environment's `executor`). */
export const FLOW_EXECUTOR_KINDS: readonly ExecutorKind[] = EXECUTOR_KINDS.filter(
  (kind) => EXECUTOR_SPECS[kind].capabilities.chosenByFlow,
);

/**
 * The JSON of an executor a flow names (an environment's `executor` field): a kind
 * the flow may choose, by name or with its options, each checked by its kind's schema.
 */
export const flowExecutorSchema: z.ZodType<ExecutorSpec> = z.union([
  z.enum(FLOW_EXECUTOR_KINDS as [ExecutorKind, ...ExecutorKind[]]),
  ...FLOW_EXECUTOR_KINDS.map((kind) => EXECUTOR_SPECS[kind].schema),
]) as z.ZodType<ExecutorSpec>;

/**
 * Checks an executor spec (from code, a flag or JSON) against its kind's schema,
 * once, naming what is wrong (INVALID_EXECUTOR), and answers it as options.
 * `flowChosen` refuses the kinds a flow may not name (the distributed executor).
 */
export function parseExecutorSpec(
  spec: ExecutorSpec | undefined,
  flowChosen = false,
): ExecutorSpec & object {
  const raw: Record<string, unknown> =
    spec === undefined
      ? { type: "concurrent" }
      : typeof spec === "string"
        ? { type: spec }
        : { ...spec };
  const type = raw.type;
  if (typeof type !== "string" || !(EXECUTOR_KINDS as readonly string[]).includes(type)) {
    throw new WeftError("INVALID_EXECUTOR", `unknown executor ${JSON.stringify(type)}`, {
      hint: `known executors: ${EXECUTOR_KINDS.join(", ")}`,
    });
  }
  const kind = EXECUTOR_SPECS[type as ExecutorKind];
  if (flowChosen && !kind.capabilities.chosenByFlow) throw notChosenByFlow(type);
  // A kind by name has nothing to check (no kind gives its options defaults in its schema):
  // every run of a flow comes here, and a first schema parse costs a cold run milliseconds.
  if (spec === undefined || typeof spec === "string") return raw as ExecutorSpec & object;
  const parsed = kind.schema.safeParse(raw);
  if (parsed.success) return parsed.data as ExecutorSpec & object;
  // A key the kind does not take first (it says which options there are), then a bad value.
  const issues = [...parsed.error.issues].sort(
    (a, b) => Number(b.code === "unrecognized_keys") - Number(a.code === "unrecognized_keys"),
  );
  const issue = issues[0];
  const options = Object.keys(kind.flags);
  if (kind.hint !== undefined || issue === undefined) {
    const where = issue?.path.join(".") || "options";
    throw new WeftError(
      "INVALID_EXECUTOR",
      `executor ${type}: ${where}: ${issue?.message ?? "invalid"}`,
      kind.hint === undefined ? undefined : { hint: kind.hint },
    );
  }
  if (issue.code === "unrecognized_keys") {
    throw new WeftError("INVALID_EXECUTOR", `executor ${type} has no option "${issue.keys[0]}"`, {
      hint: `its options: ${options.join(", ") || "none"}`,
    });
  }
  const key = String(issue.path[0]);
  throw new WeftError(
    "INVALID_EXECUTOR",
    `executor ${type}: ${key} must be a positive integer, got ${JSON.stringify(raw[key])}`,
  );
}

/** The refusal of an executor a flow may not name (the distributed one: its environment makes it). */
export function notChosenByFlow(type: string): WeftError {
  return new WeftError(
    "INVALID_EXECUTOR",
    `the ${type} executor needs a Redis URL and the flow's storage: run the flow through the ${type} environment`,
    {
      hint: "weft run <file> --environment distributed --storage <s3|git|http|module|local> --redis <url>",
    },
  );
}
