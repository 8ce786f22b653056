import { WeftError } from "../../core/errors.ts";
import type { ExecutorSpec } from "../../core/executor-spec.ts";
import { createDistributedExecutor } from "../distributed/distributed-executor.ts";
import { type Executor, resolveExecutorOptions } from "./executor.ts";
import { createConcurrentExecutor, createSerialExecutor } from "./in-process-executor.ts";
import { WorkerThreadsExecutor } from "./worker-threads-executor.ts";

/** Makes the executor a spec names, validating its options. */
export function createExecutor(spec: ExecutorSpec | undefined): Executor {
  // The distributed executor's options (Redis, the flow's origin) are its own: it checks them.
  if (typeof spec === "object" && spec.type === "distributed")
    return createDistributedExecutor(spec);
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
    case "distributed":
      throw new WeftError(
        "INVALID_EXECUTOR",
        "the distributed executor needs a Redis URL and the flow's storage: run the flow through the distributed environment",
        {
          hint: "weft run <file> --environment distributed --storage <s3|git|http|module|local> --redis <url>",
        },
      );
  }
}
