import { z } from "zod";
import { WeftError } from "../core/errors.ts";
import { type ExecutorSpec, flowExecutorSchema } from "../core/executor-spec.ts";
import { resolveExecutorOptions } from "../engine/executors/executor.ts";
import { canResume } from "../engine/flow-runner.ts";
import { parseLocation, type Storage } from "../storage/storage.ts";
import {
  commonFlagOptions,
  type Environment,
  type EnvironmentHooks,
  type EnvironmentKind,
  type ExecuteContext,
  type ExecuteResult,
  type SerializedEnvironment,
  withHooks,
} from "./environment.ts";
import { type EnvironmentImpl, guardEnvironment } from "./environment-guard.ts";
import { inWorkingDirectory, projectDirectoryOf } from "./working-directory.ts";

/** Options of the local environment. */
export interface LocalEnvironmentOptions extends EnvironmentHooks {
  /** Where task bodies run. @default "concurrent" */
  executor?: ExecutorSpec;
  /** Agents must carry all of these. @default [] */
  labels?: string[];
}

/** The JSON of a local environment. */
export const localEnvironmentSchema = z.strictObject({
  type: z.literal("local"),
  schemaVersion: z.literal(1),
  labels: z.array(z.string().min(1)),
  executor: flowExecutorSchema.optional(),
});

/** Runs the flow in the calling process (an agent's, or `weft run`'s) with a chosen executor. */
class LocalEnvironment implements EnvironmentImpl {
  readonly type = "local";
  readonly storageNeeds = "none";
  readonly labels: string[];
  private readonly executor: ExecutorSpec | undefined;

  constructor(private readonly options: LocalEnvironmentOptions) {
    if (options.executor !== undefined) resolveExecutorOptions(options.executor);
    this.executor = options.executor;
    this.labels = [...(options.labels ?? [])];
  }

  get hooks(): EnvironmentHooks {
    return this.options;
  }

  /** Nothing to provision: the run happens in this process (the guard checked the pairing). */
  async setup(): Promise<void> {}

  execute(storage: Storage, location: string, ctx: ExecuteContext): Promise<ExecuteResult> {
    return withHooks(
      this.options,
      ctx,
      parseLocation(location, storage.name).flowName,
      // In the flow's project directory (recorded by local storage), so that its relative
      // paths mean what they meant where it was written.
      (ctx) =>
        inWorkingDirectory(projectDirectoryOf(storage, location), async () => {
          const runner = await storage.getRunner(location);
          const run = await runner.run({
            flowRunId: ctx.flowRunId,
            ...(ctx.parameters === undefined ? {} : { parameters: ctx.parameters }),
            ...(ctx.reporter === undefined ? {} : { reporter: ctx.reporter }),
            ...(ctx.logger === undefined ? {} : { logger: ctx.logger }),
            ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
            ...(ctx.env === undefined ? {} : { env: ctx.env }),
            ...(this.executor === undefined ? {} : { executor: this.executor }),
            ...(ctx.taskGate === undefined ? {} : { taskGate: ctx.taskGate }),
            ...(ctx.resume !== undefined && canResume(runner.flow) ? { resume: ctx.resume } : {}),
            ...(ctx.approve?.length ? { approve: ctx.approve } : {}),
          });
          return run.state;
        }),
    );
  }

  async teardown(): Promise<void> {}

  toJSON(): SerializedEnvironment {
    return {
      type: this.type,
      schemaVersion: 1,
      labels: this.labels,
      ...(this.executor === undefined ? {} : { executor: this.executor }),
    };
  }
}

/**
 * Runs flows in the calling process with a chosen executor.
 * @example
 * flow("etl", build, { environment: createLocalEnvironment({ executor: "worker-threads" }) })
 */
export function createLocalEnvironment(options: LocalEnvironmentOptions = {}): Environment {
  return guardEnvironment(new LocalEnvironment(options), localEnvironmentKind);
}

/** Rebuilds a local environment from validated JSON. */
export function localEnvironmentFromJSON(
  json: z.infer<typeof localEnvironmentSchema>,
): Environment {
  return createLocalEnvironment({
    labels: json.labels,
    ...(json.executor === undefined ? {} : { executor: json.executor as ExecutorSpec }),
  });
}

/** The local environment kind: runs in the calling process, so any storage will do. */
export const localEnvironmentKind: EnvironmentKind<z.infer<typeof localEnvironmentSchema>> = {
  type: "local",
  schema: localEnvironmentSchema,
  create: localEnvironmentFromJSON,
  capabilities: { storageNeeds: "none", retriesElsewhere: false },
  fromFlags(options) {
    for (const key of ["heapLimitMb", "timeoutMs", "env"] as const) {
      if (options[key] !== undefined) {
        throw new WeftError(
          "USAGE",
          `the local environment runs in this process: ${key} needs --environment subprocess`,
        );
      }
    }
    return createLocalEnvironment(commonFlagOptions(options));
  },
};
