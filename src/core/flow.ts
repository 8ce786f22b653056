import { pathToFileURL } from "node:url";
import { WeftError } from "./errors.ts";
import type { ExecutorSpec } from "./executor-spec.ts";
import { buildGraph, type FlowGraph, type ParameterSpec, type Ref } from "./graph.ts";
import type { Logger, Reporter } from "./reporter.ts";
import type { ResultBackend } from "./results.ts";
import type { Schedule } from "./schedules.ts";
import type { State } from "./states.ts";
import { toErrorData } from "./states.ts";

/** A value with every {@link Ref} inside replaced by the type of its result. */
export type Resolved<O> =
  O extends Ref<infer T>
    ? T
    : O extends readonly unknown[]
      ? { -readonly [K in keyof O]: Resolved<O[K]> }
      : O extends Record<string, unknown>
        ? { -readonly [K in keyof O]: Resolved<O[K]> }
        : O;

/**
 * What core needs of a Storage (the whole interface is in `storage/`): where a
 * flow's code is kept. Core never imports the storage part.
 */
export interface FlowStorage {
  readonly type: string;
  readonly name: string;
  readonly labels: readonly string[];
  /** Another process on this machine can load the code. */
  readonly shareable: boolean;
  /** Another machine can load the code. */
  readonly remote: boolean;
  /** Records the flow and returns its location. */
  addFlow(flow: Flow<unknown>): string;
  /** Bundles and uploads what was added. */
  build(): Promise<FlowStorage>;
  toJSON(): { type: string; schemaVersion: number };
}

/** What core needs of an Environment (the whole interface is in `environments/`): how a run executes. */
export interface FlowEnvironment {
  readonly type: string;
  readonly labels: readonly string[];
  /**
   * What the environment needs of a storage: nothing (runs in the process that
   * has the flow), `shareable` (another process loads it) or `remote` (another machine does).
   */
  readonly storageNeeds: StorageNeed;
  /**
   * True when a task's retry may run in another process than its first attempt
   * (a distributed executor): its inputs must then be persisted results.
   */
  readonly retriesElsewhere?: boolean;
  toJSON(): { type: string; schemaVersion: number };
}

/** What an environment needs of a storage, weakest first. */
export const STORAGE_NEEDS = ["none", "shareable", "remote"] as const;
/** One of {@link STORAGE_NEEDS}. */
export type StorageNeed = (typeof STORAGE_NEEDS)[number];

/**
 * Refuses an environment paired with a storage it cannot use (PIN-7 left this to
 * run time; weft refuses it when the flow is serialized or run), naming both.
 */
export function checkPairing(environment: FlowEnvironment, storage: FlowStorage): void {
  const need = environment.storageNeeds;
  const fits =
    need === "none" ||
    (need === "shareable" && storage.shareable) ||
    (need === "remote" && storage.remote);
  if (!fits) {
    const what = need === "remote" ? "another machine" : "another process";
    throw new WeftError(
      "STORAGE_NOT_SHAREABLE",
      `the ${environment.type} environment runs flows in ${what}, which cannot load from ${storage.type} storage ${storage.name}`,
      {
        hint:
          need === "remote"
            ? "use s3, git, http or module storage"
            : "use local, module, s3, git or http storage (memory storage lives in one process)",
      },
    );
  }
}

/** Options of `flow.serialize()`. */
export interface SerializeOptions {
  /** Add the flow to its storage and build it, so that the output has a location. @default false */
  build?: boolean;
  /** Overrides the flow's storage. */
  storage?: FlowStorage;
  /** Overrides the flow's environment. */
  environment?: FlowEnvironment;
  /** Overrides the flow's schedule (`null` removes it). */
  schedule?: Schedule | null;
  /** Overrides the flow's labels. */
  labels?: readonly string[];
}

/**
 * Picks reference tasks from what the builder returned. Declared as a method so
 * that its parameter is bivariant: any `Flow<Out>` is then a `Flow<unknown>`.
 */
export type ReferenceTasksFunction<Out> = {
  pick(outputs: Out): readonly Ref<unknown>[];
}["pick"];

/** Options of a flow. */
export interface FlowOptions<Out> {
  /** Shown by `weft inspect` and the UI. */
  description?: string;
  /**
   * The tasks whose states decide the flow's final state, as slugs or as a
   * function of what the builder returned. @default the terminal tasks
   */
  referenceTasks?: readonly string[] | ReferenceTasksFunction<Out>;
  /** Where task functions run when the run itself does not say. @default "concurrent" */
  executor?: ExecutorSpec;
  /** When the server should run the flow. */
  schedule?: Schedule;
  /** Where the flow's code is kept for runs elsewhere (registration). */
  storage?: FlowStorage;
  /** How runs of the flow execute (registration). */
  environment?: FlowEnvironment;
  /** Agents must carry all of these labels to run the flow. @default [] */
  labels?: readonly string[];
  /** Where task results are persisted (checkpoints, caches, resume). @default results stay in memory */
  result?: ResultBackend;
  /**
   * Fail the run when any task fails, not only when a reference task does (a
   * run option of the same name overrides it). @default false
   */
  strict?: boolean;
}

/** Options of one flow run. */
export interface RunOptions {
  /** Parameter values; checked against the flow's declarations. */
  parameters?: Readonly<Record<string, unknown>>;
  /** Overrides the flow's executor. */
  executor?: ExecutorSpec;
  /** Hears every state change (console progress, the API reporter, tests). */
  reporter?: Reporter;
  /** Receives the engine's own messages. @default discards them */
  logger?: Logger;
  /** Cancels the run: pending tasks end Cancelled and running tasks' signals fire. */
  signal?: AbortSignal;
  /** The flow run's id. @default a random UUID */
  flowRunId?: string;
  /** Slugs of `manual_only` tasks approved to run in this run. */
  approve?: readonly string[];
  /** Overrides the flow's result backend. */
  result?: ResultBackend;
  /**
   * Fail the run when any task fails, not only when a reference task does.
   * @default the flow's `strict` option, else false
   */
  strict?: boolean;
  /**
   * The id of an earlier run of this flow to resume: tasks whose results that run
   * persisted are not run again (their results are read back). Needs a result backend.
   */
  resume?: string;
}

/** The outcome of a flow run. */
export interface FlowRun<Out = unknown> {
  readonly id: string;
  readonly flowName: string;
  /** The flow run's final state. */
  readonly state: State;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Final state of every task, by slug (built on first use). */
  readonly taskStates: ReadonlyMap<string, State>;
  /** The final state of one task. */
  stateOf(ref: Ref<unknown> | string): State;
  /** The result of a successful task; throws `RESULT_UNAVAILABLE` naming its state otherwise. */
  result<T>(ref: Ref<T> | string): T;
  /** What the builder returned, with each reference replaced by its task's result. */
  readonly outputs: Resolved<Out>;
}

type FlowRunnerHook = (flow: Flow<unknown>, options: RunOptions) => Promise<FlowRun<unknown>>;
let runnerHook: FlowRunnerHook | undefined;

/** @internal The engine installs itself here, so that `core` never imports `engine`. */
export function installFlowRunner(hook: FlowRunnerHook): void {
  runnerHook = hook;
}

/** The serialized form of a flow (its schema is in `serialization/`). */
export type SerializedFlowJSON = { readonly schemaVersion: number; readonly name: string } & Record<
  string,
  unknown
>;
type FlowSerializerHook = (
  flow: Flow<unknown>,
  options: SerializeOptions,
) => SerializedFlowJSON | Promise<SerializedFlowJSON>;
let serializerHook: FlowSerializerHook | undefined;

/** @internal The serialization part installs itself here. */
export function installFlowSerializer(hook: FlowSerializerHook): void {
  serializerHook = hook;
}

const FLOW_BRAND = Symbol.for("weft.flow");

/**
 * A named, static graph of tasks. The builder runs once, on first use, and
 * always yields the same graph and the same task slugs.
 */
export class Flow<Out = unknown> {
  /** @internal */
  readonly [FLOW_BRAND] = true;
  private built: FlowGraph<Out> | undefined;

  /** @internal Use {@link flow}. */
  constructor(
    readonly name: string,
    private readonly builder: () => Out,
    readonly options: Readonly<FlowOptions<Out>>,
    /** The URL of the module that defined the flow (where other threads and processes load it from). */
    readonly moduleUrl: string | undefined,
  ) {}

  /** The flow's graph, built on first use. */
  get graph(): FlowGraph<Out> {
    if (this.built === undefined) {
      try {
        this.built = buildGraph(this.name, this.builder, this.options.referenceTasks);
      } catch (error) {
        if (error instanceof WeftError) throw error;
        throw new WeftError(
          "FLOW_BUILD_FAILED",
          `building flow "${this.name}" threw: ${toErrorData(error).message}`,
          { cause: error },
        );
      }
    }
    return this.built;
  }

  /** Builds the graph now (it is otherwise built on first use) and returns it. */
  build(): FlowGraph<Out> {
    return this.graph;
  }

  /** What the builder returned: references to pass to {@link FlowRun.result}. */
  get outputs(): Out {
    return this.graph.outputs;
  }

  /** The parameters the flow declares. */
  get parameters(): ReadonlyMap<string, ParameterSpec> {
    return this.graph.parameters;
  }

  /**
   * The flow as versioned JSON: its graph, parameters, schedule and labels and,
   * with `build: true`, its storage (after `addFlow` and `build`), location and
   * environment. Without build the result is ready at once; with build it is a promise.
   */
  serialize(options?: SerializeOptions & { build?: false }): SerializedFlowJSON;
  serialize(options: SerializeOptions & { build: true }): Promise<SerializedFlowJSON>;
  serialize(options: SerializeOptions = {}): SerializedFlowJSON | Promise<SerializedFlowJSON> {
    if (serializerHook === undefined) {
      throw new WeftError("ENGINE_NOT_INSTALLED", "the serializer is not loaded", {
        hint: 'import from "weftflow"',
      });
    }
    return serializerHook(this as Flow<unknown>, options);
  }

  /**
   * Runs the flow in this process and resolves with its outcome (a failed flow
   * resolves too: look at `run.state`). Rejects only for bad input such as an
   * unknown parameter.
   */
  run(options: RunOptions = {}): Promise<FlowRun<Out>> {
    if (runnerHook === undefined) {
      return Promise.reject(
        new WeftError("ENGINE_NOT_INSTALLED", "no engine is loaded", {
          hint: 'import from "weftflow"',
        }),
      );
    }
    return runnerHook(this as Flow<unknown>, options) as Promise<FlowRun<Out>>;
  }
}

/** True for a Flow made by any copy of weft. */
export function isFlow(value: unknown): value is Flow<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<symbol, unknown>)[FLOW_BRAND] === true
  );
}

/**
 * Defines a flow: a name and a builder function that calls tasks.
 * @example
 * export const etl = flow("etl", () => {
 *   const rows = extract(parameter("path", "data/orders.csv"));
 *   return { report: report(transform(rows)) };
 * });
 */
export function flow<Out>(
  name: string,
  builder: () => Out,
  options: FlowOptions<Out> = {},
): Flow<Out> {
  if (typeof name !== "string" || !/^[A-Za-z0-9][\w.-]{0,99}$/.test(name)) {
    throw new WeftError(
      "INVALID_FLOW_NAME",
      `flow name ${JSON.stringify(name)} is not usable: 1–100 letters, digits, "_", "-" or ".", starting with a letter or digit`,
    );
  }
  if (typeof builder !== "function") {
    throw new WeftError(
      "INVALID_FLOW_OPTIONS",
      `flow "${name}": expected a builder function, got ${typeof builder}`,
    );
  }
  if (options.strict !== undefined && typeof options.strict !== "boolean") {
    throw new WeftError(
      "INVALID_FLOW_OPTIONS",
      `flow "${name}": strict must be true or false, got ${JSON.stringify(options.strict)}`,
    );
  }
  return new Flow(name, builder, Object.freeze({ ...options }), callerModuleUrl());
}

/** The URL of the module that called `flow()`, read from the call stack. */
function callerModuleUrl(): string | undefined {
  const original = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_error, frames) => frames;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, flow);
    const frames = holder.stack as NodeJS.CallSite[] | undefined;
    const file = frames?.[0]?.getFileName();
    if (file === undefined || file === null || file.startsWith("node:")) return undefined;
    if (file.startsWith("data:")) return file;
    // A loader may tag the URL (tsx adds its namespace as a query): the module is the file.
    const url = new URL(file.startsWith("file:") ? file : pathToFileURL(file).href);
    url.search = "";
    url.hash = "";
    return url.href;
  } finally {
    Error.prepareStackTrace = original;
  }
}
