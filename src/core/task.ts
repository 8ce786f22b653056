import { WeftError } from "./errors.ts";
import { activeBuilder, type Ref, type Unmapped } from "./graph.ts";
import { NAME_MAX_LENGTH, nameProblem } from "./names.ts";
import {
  type NodeKind,
  type ResolvedTaskOptions,
  resolveTaskOptions,
  type TaskOptions,
  type TaskSpec,
} from "./task-options.ts";

/** What a task argument may be: the value, a reference to it, or (for arrays) an array of either. */
export type Input<T> = T | Ref<T> | (T extends readonly (infer E)[] ? readonly Input<E>[] : never);

/** What a mapped task argument may be: an array (of values or refs), a reference to an array, or `unmapped(x)`. */
export type MapInput<T> = readonly Input<T>[] | Ref<readonly T[]> | Unmapped<T>;

/** The arguments of a task call inside a flow builder. */
export type TaskInputs<A extends unknown[]> = { [K in keyof A]: Input<A[K]> };
/** The arguments of `task.map(...)`. */
export type MapInputs<A extends unknown[]> = { [K in keyof A]: MapInput<A[K]> };

/**
 * A task: a function plus options. Calling it inside a flow builder adds a node
 * and returns a {@link Ref} to its future result; `.map()` adds a mapped node.
 */
export interface Task<A extends unknown[], R> extends TaskSpec {
  (...args: TaskInputs<A>): Ref<Awaited<R>>;
  /** The function itself, callable directly (for unit tests of task code). */
  readonly fn: (...args: A) => R;
  readonly options: ResolvedTaskOptions;
  /** One child run per item; arrays (or refs to arrays) line up by index. */
  map(...args: MapInputs<A>): Ref<Awaited<R>[]>;
  /**
   * One child run per item of `over` (a mapped task's reference, a reference to an
   * array, or an array) without passing the item: child i runs after child i of a
   * mapped `over` and is judged on it (Prefect's `upstream_tasks` on a map). `args`
   * are as in {@link Task.map}: mapped ones line up with `over`, `unmapped()` ones are whole.
   * @example
   * const uploaded = upload.map(files);
   * const pinged = ping.mapAfter(uploaded, unmapped(endpoint)); // ping: (url: string) => …
   */
  mapAfter(
    over: Ref<readonly unknown[]> | readonly unknown[],
    ...args: MapInputs<A>
  ): Ref<Awaited<R>[]>;
  /** A copy of this task with some options changed (same name). */
  with(options: TaskOptions<A>): Task<A, R>;
}

/** A task of any signature. */
// biome-ignore lint/suspicious/noExplicitAny: the widest task type must accept any argument list.
export type AnyTask = Task<any[], unknown>;

/**
 * Defines a task. The name is given, or taken from the function's name.
 * @example
 * const add = task("add", (a: number, b: number) => a + b, { retries: 2, retryDelay: 100 });
 * const inc = task(function inc(x: number) { return x + 1; });
 */
export function task<A extends unknown[], R>(
  name: string,
  fn: (...args: A) => R,
  options?: TaskOptions<A>,
): Task<A, R>;
export function task<A extends unknown[], R>(
  fn: (...args: A) => R,
  options?: TaskOptions<A>,
): Task<A, R>;
export function task<A extends unknown[], R>(
  nameOrFn: string | ((...args: A) => R),
  fnOrOptions?: ((...args: A) => R) | TaskOptions<A>,
  maybeOptions?: TaskOptions<A>,
): Task<A, R> {
  const named = typeof nameOrFn === "string";
  const fn = (named ? fnOrOptions : nameOrFn) as (...args: A) => R;
  const options = named ? maybeOptions : (fnOrOptions as TaskOptions<A> | undefined);
  const name = named ? nameOrFn : fn?.name || "task";
  if (typeof fn !== "function") {
    throw new WeftError(
      "INVALID_TASK_OPTIONS",
      `task "${name}": expected a function, got ${typeof fn}`,
    );
  }
  checkName(name);
  const made = makeTask(name, "task", fn, resolveTaskOptions(name, options));
  if (activeBuilder() === undefined) registerModuleTask(name, fn);
  return made;
}

/**
 * The functions of the tasks this process defined outside any flow builder (at a
 * module's top level, as modules are loaded), by task name; `null` once two
 * different functions had one name. A worker thread that imported a flow's module
 * finds a task's function here by name, without building the flow's graph.
 */
const moduleTasks = new Map<string, ((...args: never[]) => unknown) | null>();

function registerModuleTask(name: string, fn: (...args: never[]) => unknown): void {
  const known = moduleTasks.get(name);
  if (known === undefined) moduleTasks.set(name, fn);
  else if (known !== fn) moduleTasks.set(name, null);
}

/**
 * @internal The function of the one task named `name` that this process defined
 * outside any flow builder; undefined when there is none, or more than one with
 * different functions (the caller then finds the task by slug in the built graph).
 */
export function moduleTaskFunction(name: string): ((...args: never[]) => unknown) | undefined {
  return moduleTasks.get(name) ?? undefined;
}

function checkName(name: string): void {
  const problem = nameProblem(name);
  if (problem !== undefined) {
    throw new WeftError(
      "INVALID_TASK_OPTIONS",
      `task name ${JSON.stringify(name)} is not usable: it ${problem}`,
      {
        hint: `a task name is any printable text of 1–${NAME_MAX_LENGTH} characters, without control characters or whitespace at either end`,
      },
    );
  }
}

/** @internal Builds the callable task object; also used for the built-in node kinds. */
export function makeTask<A extends unknown[], R>(
  name: string,
  kind: NodeKind,
  fn: (...args: A) => R,
  options: ResolvedTaskOptions,
): Task<A, R> {
  const call = (...args: unknown[]) => builderFor(name, false).add(self, args, false);
  const self = call as unknown as Task<A, R>;
  Object.defineProperties(call, {
    name: { value: name },
    kind: { value: kind, enumerable: true },
    fn: { value: fn, enumerable: true },
    options: { value: options, enumerable: true },
    map: { value: (...args: unknown[]) => builderFor(name, true).add(self, args, true) },
    mapAfter: {
      value: (over: unknown, ...args: unknown[]) =>
        builderFor(name, true).add(self, args, true, undefined, over ?? null),
    },
    with: {
      value: (more: TaskOptions<A>) =>
        makeTask(
          name,
          kind,
          fn,
          resolveTaskOptions(name, { ...pickUserOptions(options), ...more }),
        ),
    },
  });
  return self;
}

function pickUserOptions(o: ResolvedTaskOptions): TaskOptions {
  const out: TaskOptions = {
    retries: o.retries,
    retryDelay: o.retryDelay,
    trigger: o.trigger,
    skipOnUpstreamSkip: o.skipOnUpstreamSkip,
    tags: [...o.tags],
  };
  if (o.timeout !== undefined) out.timeout = o.timeout;
  if (o.cacheFor !== undefined) out.cacheFor = o.cacheFor;
  if (o.cacheKey !== undefined) out.cacheKey = o.cacheKey as (...args: unknown[]) => string;
  if (o.checkpoint !== undefined) out.checkpoint = o.checkpoint;
  if (o.cache !== undefined) out.cache = o.cache;
  if (o.target !== undefined) out.target = o.target;
  if (o.onStateChange !== undefined) out.onStateChange = [...o.onStateChange];
  out.maxLoops = o.maxLoops;
  return out;
}

function builderFor(name: string, mapped: boolean) {
  const builder = activeBuilder();
  if (builder === undefined) {
    throw new WeftError(
      "TASK_OUTSIDE_FLOW",
      `task "${name}" was ${mapped ? "mapped" : "called"} outside a flow builder`,
      {
        hint: `call it inside flow("…", () => { … }), or call ${name}.fn(…) to run the function directly`,
      },
    );
  }
  return builder;
}
