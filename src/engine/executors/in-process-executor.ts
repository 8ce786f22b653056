import {
  type ConcurrentExecutorOptions,
  concurrentExecutorSpec,
  type SerialExecutorOptions,
  serialExecutorSpec,
} from "../../core/executor-spec.ts";
import type { Ref } from "../../core/graph.ts";
import { hostTask, type TaskOutcome, type TaskRunContext } from "../task-host.ts";
import type { Executor, ExecutorKindEntry } from "./executor.ts";

/** Default bound on concurrent task runs. */
export const DEFAULT_MAX_CONCURRENCY = 100;

/**
 * Runs task bodies in this thread. `serial` keeps one task run in flight;
 * `concurrent` lets async task runs overlap up to `maxConcurrency`.
 * Synchronous bodies complete inline either way, with no promise allocated.
 */
export class InProcessExecutor implements Executor {
  readonly hardTimeouts = false;

  constructor(
    readonly kind: "serial" | "concurrent",
    readonly maxInFlight: number,
  ) {}

  async start(): Promise<void> {}

  invoke(
    node: Ref<unknown>,
    args: readonly unknown[],
    ctx: TaskRunContext,
  ): TaskOutcome | Promise<TaskOutcome> {
    return hostTask(ctx, node.task.fn, args);
  }

  async close(): Promise<void> {}
}

/** The serial executor: one task run at a time. */
export function createSerialExecutor(): Executor {
  return new InProcessExecutor("serial", 1);
}

/** The concurrent executor (the default). */
export function createConcurrentExecutor(maxConcurrency = DEFAULT_MAX_CONCURRENCY): Executor {
  return new InProcessExecutor("concurrent", maxConcurrency);
}

/** The serial executor kind. */
export const serialExecutorKind: ExecutorKindEntry<SerialExecutorOptions> = {
  ...serialExecutorSpec,
  create: () => createSerialExecutor(),
};

/** The concurrent executor kind. */
export const concurrentExecutorKind: ExecutorKindEntry<ConcurrentExecutorOptions> = {
  ...concurrentExecutorSpec,
  create: (options) => createConcurrentExecutor(options.maxConcurrency),
};
