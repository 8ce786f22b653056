import type { ExecutorSpec } from "../../core/executor-spec.ts";
import { type Executor, resolveExecutorOptions } from "./executor.ts";
import { createConcurrentExecutor, createSerialExecutor } from "./in-process-executor.ts";
import { WorkerThreadsExecutor } from "./worker-threads-executor.ts";

/** Makes the executor a spec names, validating its options. */
export function createExecutor(spec: ExecutorSpec | undefined): Executor {
  const options = resolveExecutorOptions(spec);
  switch (options.type) {
    case "serial":
      return createSerialExecutor();
    case "concurrent":
      return createConcurrentExecutor(options.maxConcurrency);
    case "worker-threads":
      return new WorkerThreadsExecutor({
        maxWorkers: options.maxWorkers,
        maxConcurrency: options.maxConcurrency,
      });
  }
}
