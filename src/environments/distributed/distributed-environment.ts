import { z } from "zod";
import { WeftError } from "../../core/errors.ts";
import type { DistributedExecutorOptions } from "../../core/executor-spec.ts";
import { formatIssues } from "../../core/task-options.ts";
import {
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  QUEUE_NAME,
  redisAddress,
} from "../../engine/distributed/distributed-protocol.ts";
import {
  closeRedis,
  connectRedis,
  readLiveWorkers,
} from "../../engine/distributed/redis-client.ts";
import { canResume } from "../../engine/flow-runner.ts";
import { resolveSecretReference } from "../../serialization/credentials.ts";
import { parseLocation, type Storage } from "../../storage/storage.ts";
import {
  type Environment,
  type EnvironmentHooks,
  type EnvironmentKind,
  type ExecuteContext,
  type ExecuteResult,
  type SerializedEnvironment,
  withHooks,
} from "../environment.ts";
import { type EnvironmentImpl, guardEnvironment } from "../environment-guard.ts";

/** Options of the distributed environment. */
export interface DistributedEnvironmentOptions extends EnvironmentHooks {
  /**
   * Where the Redis URL comes from: `env:NAME` (read where the flow runs), or a
   * URL without a password. @default "env:WEFT_REDIS_URL"
   */
  redis?: string;
  /** The queue of tasks without a `queue:<name>` tag. @default "default" */
  queue?: string;
  /** Task runs in flight at once. @default 1000 */
  maxInFlight?: number;
  /** The BullMQ key prefix (workers must use the same: `weft worker start --prefix`). @default "weft" */
  prefix?: string;
  /** A task waiting this long on a queue no live worker serves fails as not started. @default 30000 */
  noWorkerTimeoutMs?: number;
  /** Agents must carry all of these. @default [] */
  labels?: string[];
}

const REFERENCE = /^env:[A-Za-z_][A-Za-z0-9_]*$/;

/** The JSON of a distributed environment: never a Redis password, only where the URL comes from. */
export const distributedEnvironmentSchema = z.strictObject({
  type: z.literal("distributed"),
  schemaVersion: z.literal(1),
  labels: z.array(z.string().min(1)),
  redis: z
    .string()
    .refine(
      (value) => REFERENCE.test(value) || /^rediss?:\/\/[^/\s@:]*@?[^/\s]+/.test(value),
      "expected env:NAME or a redis:// URL",
    )
    .refine(
      (value) => REFERENCE.test(value) || !/^rediss?:\/\/[^/\s@]*:[^/\s@]+@/.test(value),
      'a Redis URL with a password cannot be stored: write "env:NAME" and set NAME where the flow runs',
    ),
  queue: z.string().regex(QUEUE_NAME),
  prefix: z.string().regex(QUEUE_NAME).optional(),
  maxInFlight: z.int().min(1).optional(),
  noWorkerTimeoutMs: z.int().min(0).optional(),
});

/**
 * Runs the flow runner in this process and each task body as a job on `weft
 * worker` processes (BullMQ on Redis), wherever they run. Needs a storage that
 * those workers can load: s3, git, http or module, or local when every worker
 * sees the same directory.
 */
class DistributedEnvironment implements EnvironmentImpl {
  readonly type = "distributed";
  readonly storageNeeds = "shareable";
  /** Retries run in this process (the task runner keeps the inputs), not elsewhere. */
  readonly retriesElsewhere = false;
  readonly labels: string[];
  private readonly redis: string;
  private readonly queue: string;

  constructor(private readonly options: DistributedEnvironmentOptions) {
    this.labels = [...(options.labels ?? [])];
    this.redis = options.redis ?? "env:WEFT_REDIS_URL";
    this.queue = options.queue ?? DEFAULT_QUEUE;
    const { onStart: _start, onExit: _exit, ...settings } = options;
    const checked = distributedEnvironmentSchema.safeParse(this.settings());
    if (!checked.success) {
      const credential = checked.error.issues.some((i) => i.message.includes("password"));
      throw new WeftError(
        credential ? "CREDENTIAL_IN_CONFIG" : "INVALID_FLOW_OPTIONS",
        `distributed environment: ${formatIssues(checked.error, settings, "", "options")}`,
      );
    }
  }

  private settings(): SerializedEnvironment {
    const o = this.options;
    return {
      type: this.type,
      schemaVersion: 1,
      labels: this.labels,
      redis: this.redis,
      queue: this.queue,
      ...(o.prefix === undefined ? {} : { prefix: o.prefix }),
      ...(o.maxInFlight === undefined ? {} : { maxInFlight: o.maxInFlight }),
      ...(o.noWorkerTimeoutMs === undefined ? {} : { noWorkerTimeoutMs: o.noWorkerTimeoutMs }),
    };
  }

  /** The Redis URL, resolved from its reference here. */
  private redisUrl(): string {
    if (!REFERENCE.test(this.redis)) return this.redis;
    const url = resolveSecretReference(this.redis);
    if (url === undefined || url === "") {
      throw new WeftError(
        "REDIS_UNREACHABLE",
        `the distributed environment reads the Redis URL from ${this.redis.slice(4)}, which is not set`,
        { hint: `set ${this.redis.slice(4)}=redis://host:6379 (or pass --redis to weft run)` },
      );
    }
    return url;
  }

  get hooks(): EnvironmentHooks {
    return this.options;
  }

  /** Checks that a live worker serves the queue (the guard checked the pairing first). */
  async setup(_storage: Storage): Promise<void> {
    const url = this.redisUrl();
    const redis = await connectRedis(url, { who: "the distributed environment" });
    try {
      const prefix = this.options.prefix ?? DEFAULT_PREFIX;
      const workers = await readLiveWorkers(redis, prefix);
      if (!workers.some((w) => w.queues.includes(this.queue))) {
        const others = [...new Set(workers.flatMap((w) => w.queues))];
        throw new WeftError(
          "NO_LIVE_WORKER",
          `no live weft worker serves queue "${this.queue}" on ${redisAddress(url)}${prefix === DEFAULT_PREFIX ? "" : ` (prefix ${prefix})`}${others.length ? `; live workers serve: ${others.join(", ")}` : ""}`,
          {
            hint: `start one: weft worker start --redis ${redisAddress(url)} --queues ${this.queue}${prefix === DEFAULT_PREFIX ? "" : ` --prefix ${prefix}`}`,
          },
        );
      }
    } finally {
      await closeRedis(redis);
    }
  }

  execute(storage: Storage, location: string, ctx: ExecuteContext): Promise<ExecuteResult> {
    return withHooks(
      this.options,
      ctx,
      parseLocation(location, storage.name).flowName,
      async (ctx) => {
        if (!storage.remote) {
          ctx.logger?.warn(
            `${storage.type} storage ${storage.name} is read from its path on each worker: every worker must see the same directory`,
            { flowRunId: ctx.flowRunId },
          );
        }
        const o = this.options;
        const executor: DistributedExecutorOptions = {
          type: "distributed",
          redisUrl: this.redisUrl(),
          origin: { storage: storage.toJSON(), location },
          queue: this.queue,
          ...(o.prefix === undefined ? {} : { prefix: o.prefix }),
          ...(o.maxInFlight === undefined ? {} : { maxInFlight: o.maxInFlight }),
          ...(o.noWorkerTimeoutMs === undefined ? {} : { noWorkerTimeoutMs: o.noWorkerTimeoutMs }),
        };
        const runner = await storage.getRunner(location);
        // A run that never starts (Redis unreachable, bad options) throws: withHooks fails it.
        const run = await runner.run({
          flowRunId: ctx.flowRunId,
          executor,
          ...(ctx.parameters === undefined ? {} : { parameters: ctx.parameters }),
          ...(ctx.reporter === undefined ? {} : { reporter: ctx.reporter }),
          ...(ctx.logger === undefined ? {} : { logger: ctx.logger }),
          ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
          ...(ctx.taskGate === undefined ? {} : { taskGate: ctx.taskGate }),
          ...(ctx.resume !== undefined && canResume(runner.flow) ? { resume: ctx.resume } : {}),
          ...(ctx.approve?.length ? { approve: ctx.approve } : {}),
        });
        return run.state;
      },
    );
  }

  /** Nothing outlives execute: the executor withdraws its jobs when the run ends. */
  async teardown(): Promise<void> {}

  toJSON(): SerializedEnvironment {
    return this.settings();
  }
}

/**
 * Runs each flow run's tasks on `weft worker` processes through Redis (BullMQ).
 * A task tagged `queue:<name>` goes to that queue; the others to `queue`.
 * @example
 * flow("etl", build, {
 *   storage: createS3Storage({ bucket: "flows" }),
 *   environment: createDistributedEnvironment({ redis: "env:WEFT_REDIS_URL", queue: "default" }),
 * })
 */
export function createDistributedEnvironment(
  options: DistributedEnvironmentOptions = {},
): Environment {
  return guardEnvironment(new DistributedEnvironment(options), distributedEnvironmentKind);
}

/** Rebuilds a distributed environment from validated JSON. */
export function distributedEnvironmentFromJSON(
  json: z.infer<typeof distributedEnvironmentSchema>,
): Environment {
  const { type: _t, schemaVersion: _v, ...rest } = json;
  return createDistributedEnvironment(rest as DistributedEnvironmentOptions);
}

/** The distributed environment kind: weft workers load the flow, so the storage must be shareable. */
export const distributedEnvironmentKind: EnvironmentKind<
  z.infer<typeof distributedEnvironmentSchema>
> = {
  type: "distributed",
  schema: distributedEnvironmentSchema,
  create: distributedEnvironmentFromJSON,
  capabilities: { storageNeeds: "shareable", retriesElsewhere: false },
  // Workers load the flow: say so, and when local storage would do.
  refusePairing: (storage, refused) =>
    new WeftError(
      "STORAGE_NOT_SHAREABLE",
      `the distributed environment runs tasks on weft workers, which cannot load flows from ${storage.type} storage ${storage.name}`,
      {
        hint: "use s3, git, http or module storage; local storage works only when every worker sees the same directory at the same path",
        cause: refused,
      },
    ),
  fromFlags(options) {
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
  },
};
