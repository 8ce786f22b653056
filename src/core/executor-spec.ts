/** Where task functions run. */
export const EXECUTOR_KINDS = ["serial", "concurrent", "worker-threads"] as const;
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
  /** Task runs in flight at once (queued to the pool). @default 2 × maxWorkers */
  maxConcurrency?: number;
}

/** An executor by name (with defaults) or with options. */
export type ExecutorSpec =
  | ExecutorKind
  | SerialExecutorOptions
  | ConcurrentExecutorOptions
  | WorkerThreadsExecutorOptions;
