import { WeftError } from "../core/errors.ts";
import type { ExecutorSpec } from "../core/executor-spec.ts";
import { createDistributedEnvironment } from "./distributed/distributed-environment.ts";
import { ENVIRONMENT_TYPES, type Environment } from "./environment.ts";
import { createLocalEnvironment } from "./local-environment.ts";
import { createSubprocessEnvironment } from "./subprocess/subprocess-environment.ts";

/** Loose options from command-line flags. */
export interface EnvironmentFlagOptions {
  executor?: ExecutorSpec | undefined;
  heapLimitMb?: number | undefined;
  timeoutMs?: number | undefined;
  env?: Record<string, string> | undefined;
  labels?: string[] | undefined;
  /** distributed: the queue of untagged tasks. */
  queue?: string | undefined;
  /** distributed: task runs in flight at once. */
  maxInFlight?: number | undefined;
}

/** Makes an environment of `kind` from command-line options, refusing options the kind does not take. */
export function createEnvironment(kind: string, options: EnvironmentFlagOptions = {}): Environment {
  const common = {
    ...(options.executor === undefined ? {} : { executor: options.executor }),
    ...(options.labels === undefined ? {} : { labels: options.labels }),
  };
  switch (kind) {
    case "local":
      for (const key of ["heapLimitMb", "timeoutMs", "env"] as const) {
        if (options[key] !== undefined) {
          throw new WeftError(
            "USAGE",
            `the local environment runs in this process: ${key} needs --environment subprocess`,
          );
        }
      }
      return createLocalEnvironment(common);
    case "subprocess":
      return createSubprocessEnvironment({
        ...common,
        ...(options.heapLimitMb === undefined ? {} : { heapLimitMb: options.heapLimitMb }),
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(options.env === undefined ? {} : { env: options.env }),
      });
    case "distributed":
      for (const key of ["heapLimitMb", "timeoutMs", "env", "executor"] as const) {
        if (options[key] !== undefined) {
          throw new WeftError(
            "USAGE",
            `the distributed environment runs tasks on weft workers: it takes no ${key}`,
          );
        }
      }
      // The Redis URL comes from WEFT_REDIS_URL (never stored in the environment's JSON).
      return createDistributedEnvironment({
        ...(options.labels === undefined ? {} : { labels: options.labels }),
        ...(options.queue === undefined ? {} : { queue: options.queue }),
        ...(options.maxInFlight === undefined ? {} : { maxInFlight: options.maxInFlight }),
      });
    default:
      throw new WeftError(
        "UNKNOWN_TYPE",
        `unknown environment kind "${kind}" (known: ${ENVIRONMENT_TYPES.join(", ")})`,
      );
  }
}
