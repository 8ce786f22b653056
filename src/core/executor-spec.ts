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
  /** Task runs in flight at once (queued to the pool). @default 2 × maxWorkers */
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
  /** Most task runs in one job. @default 100 */
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
