import { AsyncLocalStorage } from "node:async_hooks";
import { WeftError } from "./errors.ts";
import type { Logger } from "./reporter.ts";

/** What a running task can know about itself: `context()` returns it. */
export interface TaskContext {
  readonly flowRunId: string;
  readonly flowName: string;
  readonly taskSlug: string;
  readonly taskName: string;
  /** The child's index for a mapped task; undefined otherwise. */
  readonly mapIndex: number | undefined;
  /** 1 for the first attempt, 2 for the first retry, … */
  readonly attempt: number;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Logs attached to this task run. */
  readonly logger: Logger;
  /** Aborts when the task times out or the flow run is cancelled. */
  readonly signal: AbortSignal;
  /**
   * Variables the run's environment gave it (an agent gives every run its API,
   * WEFT_API_URL and WEFT_API_TOKEN), not `process.env`; empty where none were
   * given, and in a task that runs on a worker (worker threads, `weft worker`).
   */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Which iteration of a looping task this is (see `Loop`): `count` is 1 on the
   * first run, `result` what the previous iteration passed to `Loop` (undefined at first).
   */
  readonly loop: LoopContext;
  /** True when the task was approved for this run (`approve`, `--approve`): see `Pause`. */
  readonly approved: boolean;
}

/** A looping task's iteration: `context().loop`. */
export interface LoopContext {
  /** 1 for the first iteration, 2 after the first `Loop`, … */
  readonly count: number;
  /** The `result` the previous iteration threw `Loop` with; undefined in the first. */
  readonly result: unknown;
}

const storage = new AsyncLocalStorage<TaskContext>();

/**
 * The context of the task that is running now (works across `await`).
 * @example
 * const fetchPage = task("fetch", async (url: string) => {
 *   const { signal, logger, attempt } = context();
 *   logger.info(`attempt ${attempt}`);
 *   return (await fetch(url, { signal })).text();
 * });
 */
export function context(): TaskContext {
  const ctx = storage.getStore();
  if (ctx === undefined) {
    throw new WeftError("CONTEXT_OUTSIDE_TASK", "context() was called outside a running task");
  }
  return ctx;
}

/** @internal Calls `fn(...args)` with `ctx` as the current task context. */
export function callInContext<R>(
  ctx: TaskContext,
  fn: (...args: never[]) => R,
  args: readonly unknown[],
): R {
  return storage.run(ctx, fn as (...a: unknown[]) => R, ...args);
}
