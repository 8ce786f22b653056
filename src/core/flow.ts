// The flow model: a name, a builder and its options, and the static graph the
// builder yields (built once, on first use). Core is a pure model: it neither
// runs nor serializes a flow. The public `flow()` (src/flow.ts, the composition
// root) returns this model with `run` (the engine's runFlow) and `serialize`
// (serialization's serializeFlow) attached; the engine, storages and
// environments take the model, so none of them depends on the others.
import { pathToFileURL } from "node:url";
import { WeftError } from "./errors.ts";
import type { ExecutorSpec } from "./executor-spec.ts";
import { buildGraph, type FlowGraph, type ParameterSpec, type Ref } from "./graph.ts";
import { NAME_MAX_LENGTH, nameProblem } from "./names.ts";
import type { Logger, Reporter } from "./reporter.ts";
import type { ResultBackend } from "./results.ts";
import type { Schedule } from "./schedules.ts";
import type { StateHandler } from "./state-handlers.ts";
import type { State } from "./states.ts";
import { toErrorData } from "./states.ts";
import type { TaskGate } from "./task-gate.ts";

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
 * Picks reference tasks from what the builder returned. Declared as a method so
 * that its parameter is bivariant: any `Flow<Out>` is then a `Flow<unknown>`.
 */
export type ReferenceTasksFunction<Out> = {
  pick(outputs: Out): readonly Ref<unknown>[];
}["pick"];

/**
 * Options of the flow model. Where the flow's code is kept and how its runs
 * execute (`storage`, `environment`) are added by the public `FlowOptions`
 * (src/flow.ts), whose types live in the parts that use them.
 */
export interface FlowModelOptions<Out> {
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
  /** Agents must carry all of these labels to run the flow. @default [] */
  labels?: readonly string[];
  /** Where task results are persisted (checkpoints, caches, resume). @default results stay in memory */
  result?: ResultBackend;
  /**
   * Fail the run when any task fails, not only when a reference task does (a
   * run option of the same name overrides it). @default false
   */
  strict?: boolean;
  /**
   * Called on each state change of every run of the flow (Running, then its
   * final state), in order, in the flow-run process; see {@link StateHandler}.
   * @default none
   */
  onStateChange?: readonly StateHandler[];
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
  /**
   * Variables for this run's tasks, read by `context().env` (an agent gives its
   * API here, which `startFlowRun` uses). @default {}
   */
  env?: Readonly<Record<string, string>>;
  /**
   * Concurrency limits by tag: task runs that carry tags wait at this gate for
   * slots (an agent gives one that asks the server). @default none: limits are ignored
   */
  taskGate?: TaskGate;
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

const FLOW_BRAND = Symbol.for("weft.flow");

/**
 * A named, static graph of tasks. The builder runs once, on first use, and
 * always yields the same graph and the same task slugs.
 */
export class Flow<Out = unknown> {
  /** @internal */
  readonly [FLOW_BRAND] = true;
  private built: FlowGraph<Out> | undefined;

  /** @internal Use the public `flow()` (src/flow.ts), which checks the definition first. */
  constructor(
    readonly name: string,
    private readonly builder: () => Out,
    readonly options: Readonly<FlowModelOptions<Out>>,
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

  /** @internal Whether the graph is built (reading `graph` would not build it). */
  get isBuilt(): boolean {
    return this.built !== undefined;
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
 * Refuses a flow definition weft cannot use: a name that {@link nameProblem}
 * refuses (empty, over 200 characters, a control character, whitespace at an
 * end); a builder that is not a function; a `strict` option that is not a
 * boolean; an `onStateChange` that is not an array of functions.
 */
export function checkFlowDefinition(
  name: unknown,
  builder: unknown,
  options: { readonly strict?: unknown; readonly onStateChange?: unknown },
): asserts name is string {
  const problem = nameProblem(name);
  if (problem !== undefined) {
    throw new WeftError(
      "INVALID_FLOW_NAME",
      `flow name ${JSON.stringify(name)} is not usable: it ${problem}`,
      {
        hint: `a flow name is any printable text of 1–${NAME_MAX_LENGTH} characters, without control characters or whitespace at either end`,
      },
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
  const handlers = options.onStateChange;
  if (
    handlers !== undefined &&
    (!Array.isArray(handlers) || handlers.some((h) => typeof h !== "function"))
  ) {
    throw new WeftError(
      "INVALID_FLOW_OPTIONS",
      `flow "${name}": onStateChange must be an array of functions (subject, oldState, newState)`,
    );
  }
}

/**
 * The URL of the module that called `entry` (the public `flow()`), read from
 * the call stack: where other threads and processes load the flow from.
 */
export function callerModuleUrl(entry: (...args: never[]) => unknown): string | undefined {
  const original = Error.prepareStackTrace;
  try {
    Error.prepareStackTrace = (_error, frames) => frames;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, entry);
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
