// The loop of `weft worker start`: BullMQ workers that run task bodies for the
// distributed executor. A job names its flow's storage (JSON) and location; the
// worker asks its injected code loader for the flow (cached by origin; the
// environments part gives one that rebuilds the storage, whose bundle kinds
// verify the bundle's hash), finds each task by slug and runs its body through
// the task host, with the same context as anywhere else. The task runner
// (retries, timeouts, triggers, caches) stays in the flow-run process; a reply
// carries each attempt's outcome as data (distributed-protocol.ts).
//
// Over 600 lines on purpose: the job loop, liveness beats, the cancel subscription
// and shutdown all read the loop's one state (the jobs running, by flow run); split,
// each piece would take that state apart again.
import { hostname } from "node:os";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import type { Job, Worker } from "bullmq";
import type { Redis } from "ioredis";
import { WeftError } from "../../core/errors.ts";
import type { Flow } from "../../core/flow.ts";
import type { Logger, LogRecord } from "../../core/reporter.ts";
import type { ResultBackend } from "../../core/results.ts";
import { toErrorData } from "../../core/states.ts";
import {
  failure,
  hostTask,
  type TaskOutcome,
  TaskRunContext,
  type TaskScope,
} from "../task-host.ts";
import {
  cancelChannel,
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  decodeInline,
  encodeValue,
  failureReply,
  type ItemReply,
  type JobData,
  type JobItem,
  type JobReply,
  jobDataSchema,
  PROTOCOL_VERSION,
  QUEUE_NAME,
  redisAddress,
  referenceLocation,
  type WireValue,
  type WorkerInfo,
  workerInfoKey,
  workersKey,
} from "./distributed-protocol.ts";
import { loadBullmq } from "./queue-modules.ts";
import { closeRedis, connectRedis } from "./redis-client.ts";

/** Options of {@link startDistributedWorker}. */
export interface DistributedWorkerOptions {
  /** The Redis URL (the same as the flow runs'). */
  redisUrl: string;
  /** The queues to serve. @default ["default"] */
  queues?: readonly string[];
  /** Jobs run at once per queue. @default 8 */
  concurrency?: number;
  /** Shown in logs and liveness. @default `<host>-<pid>` */
  name?: string;
  /** The BullMQ key prefix (the same as the environment's). @default "weft" */
  prefix?: string;
  /** Where the worker logs (one line per job, a line per failed task). */
  logger: Logger;
  /**
   * How long a job's lock lasts without renewal: a worker that dies (kill -9) is
   * noticed after about this long, and its job re-run elsewhere. @default 30000
   */
  lockDurationMs?: number;
  /** On close, how long running tasks may take to finish before they are aborted. @default 30000 */
  shutdownGraceMs?: number;
  /** How long the liveness record lasts unless refreshed (every third of it). @default 15000 */
  livenessTtlMs?: number;
}

/**
 * Where a worker gets flows' code and result backends from: the engine knows
 * no storage, so whoever starts the worker (environments/distributed) passes
 * these. Both are called once per origin (or backend) and cached.
 */
export interface WorkerCodeLoader {
  /** The flow a job's origin names (its storage as JSON, and the location in it). */
  loadFlow(origin: JobData["origin"]): Promise<Flow<unknown>>;
  /** The result backend a job names, from its JSON. */
  openResults(json: NonNullable<JobData["results"]>): ResultBackend;
}

/** A running worker. */
export interface DistributedWorker {
  readonly name: string;
  readonly queues: readonly string[];
  /** Stops taking jobs, lets running ones finish (bounded by shutdownGraceMs), and disconnects. Idempotent. */
  close(): Promise<void>;
}

/** Loaded flows kept per origin (storage + location). */
const MAX_FLOWS = 32;

/** What the items of one job share. */
interface JobRun {
  readonly data: JobData;
  readonly results: ResultBackend | undefined;
  /** Earlier starts of this job that stalled (each re-run is the next attempt). */
  readonly stalls: number;
  readonly info: TaskScope["info"];
  /** Aborts when the job's run is cancelled or the job is. */
  readonly signal: AbortSignal;
}

class WorkerLoop implements DistributedWorker {
  readonly name: string;
  readonly queues: readonly string[];
  private readonly prefix: string;
  private readonly concurrency: number;
  private readonly logger: Logger;
  private readonly workers: Worker[] = [];
  private readonly flows = new Map<string, Promise<Flow<unknown>>>();
  private readonly backends = new Map<string, ResultBackend>();
  /** Flow run id → the abort controllers of its running task bodies. */
  private readonly running = new Map<string, Set<AbortController>>();
  private liveness: NodeJS.Timeout | undefined;
  private subscriber: Redis | undefined;
  private closing: Promise<void> | undefined;
  /** The turn of the event loop the latest job starts on (see {@link ownTurn}). */
  private lastTurn: Promise<unknown> = Promise.resolve();
  private readonly startedAt = Date.now();

  constructor(
    private readonly options: DistributedWorkerOptions,
    private readonly redis: Redis,
    private readonly code: WorkerCodeLoader,
  ) {
    this.name = options.name ?? `${hostname()}-${process.pid}`;
    this.queues = [...(options.queues ?? [DEFAULT_QUEUE])];
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.concurrency = options.concurrency ?? 8;
    this.logger = options.logger;
  }

  async start(): Promise<void> {
    await this.beat();
    const ttl = this.options.livenessTtlMs ?? 15_000;
    this.liveness = setInterval(
      () => {
        this.beat().catch((error: unknown) =>
          this.logger.warn(`liveness not refreshed: ${toErrorData(error).message}`),
        );
      },
      Math.max(100, Math.floor(ttl / 3)),
    );
    this.subscriber = this.redis.duplicate();
    this.subscriber.on("error", () => {});
    this.subscriber.on("message", (_channel: string, flowRunId: string) => {
      const controllers = this.running.get(flowRunId);
      if (controllers === undefined) return;
      this.logger.info(
        `flow run ${flowRunId} was cancelled: aborting its ${controllers.size} running task(s)`,
        {
          flowRunId,
        },
      );
      for (const c of controllers) c.abort(new Error("the flow run was cancelled"));
    });
    await this.subscriber.subscribe(cancelChannel(this.prefix));
    const lockDuration = this.options.lockDurationMs ?? 30_000;
    const { Worker } = await loadBullmq();
    for (const queue of this.queues) {
      const worker = new Worker(queue, (job, _token, signal) => this.process(job, signal), {
        connection: this.redis,
        prefix: this.prefix,
        concurrency: this.concurrency,
        name: this.name,
        lockDuration,
        stalledInterval: lockDuration,
        maxStalledCount: 1,
      });
      worker.on("error", (error) =>
        this.logger.warn(`queue ${queue}: ${toErrorData(error).message}`, { queue }),
      );
      worker.on("failed", (job, error) =>
        this.logger.warn(`job ${job?.id ?? "?"} on queue ${queue} failed: ${error.message}`, {
          queue,
        }),
      );
      this.workers.push(worker);
    }
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
  }

  /** Refreshes this worker's liveness record. */
  private async beat(): Promise<void> {
    const ttl = this.options.livenessTtlMs ?? 15_000;
    const info: WorkerInfo = {
      name: this.name,
      queues: [...this.queues],
      concurrency: this.concurrency,
      pid: process.pid,
      host: hostname(),
      startedAt: this.startedAt,
      active: this.activeJobs(),
      beatAt: Date.now(),
    };
    await this.redis
      .multi()
      .set(workerInfoKey(this.prefix, this.name), JSON.stringify(info), "PX", ttl)
      .zadd(workersKey(this.prefix), Date.now() + ttl, this.name)
      .exec();
  }

  /** Jobs running now: one abort controller each, grouped by flow run. */
  private activeJobs(): number {
    let n = 0;
    for (const set of this.running.values()) n += set.size;
    return n;
  }

  private async process(job: Job, signal: AbortSignal | undefined): Promise<JobReply> {
    const parsed = jobDataSchema.safeParse(job.data);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new WeftError(
        "INVALID_SERIALIZED",
        `job ${job.id} is not a weft job of protocol ${PROTOCOL_VERSION}: ${issue?.path.join(".")}: ${issue?.message}`,
      );
    }
    const data = parsed.data;
    const started = performance.now();
    // Each earlier start of this job stalled (its worker stopped): the re-run is the next attempt.
    const stalls = Math.max(0, (job.attemptsStarted ?? 1) - 1);
    let replies: ItemReply[];
    let ms: number | undefined;
    try {
      const flow = await this.flowFor(data.origin);
      const results = data.results === undefined ? undefined : this.backendFor(data.results);
      await this.ownTurn();
      const itemsStarted = performance.now();
      replies = await this.runItems(flow, results, data, stalls, signal);
      ms = performance.now() - itemsStarted;
    } catch (error) {
      // The flow could not be loaded: every task of the job fails, saying why.
      const failure = toErrorData(error);
      replies = data.items.map((item) => ({
        id: item.id,
        ok: false as const,
        attempt: item.attempt + stalls,
        error: failure,
      }));
    }
    this.logJob(data, replies, performance.now() - started);
    return {
      v: PROTOCOL_VERSION,
      worker: this.name,
      items: replies,
      ...(ms === undefined ? {} : { ms }),
    };
  }

  /**
   * Resolves on a turn of the event loop that no other job of this worker starts
   * on. The jobs a worker holds would otherwise start back to back in one turn
   * (each a microtask, or each an immediate of one check phase): with synchronous
   * bodies, no completion would leave, nor the next job arrive, before the last
   * of them ended, and a worker would finish its jobs in batches of `concurrency`.
   */
  private ownTurn(): Promise<void> {
    const turn = this.lastTurn.then(() => yieldToEventLoop());
    this.lastTurn = turn;
    return turn;
  }

  private flowFor(origin: JobData["origin"]): Promise<Flow<unknown>> {
    let loading = this.flows.get(origin.key);
    if (loading === undefined) {
      loading = (async () => this.code.loadFlow(origin))();
      if (this.flows.size >= MAX_FLOWS) this.flows.delete(this.flows.keys().next().value!);
      this.flows.set(origin.key, loading);
      loading.catch(() => this.flows.delete(origin.key));
    }
    return loading;
  }

  private backendFor(json: NonNullable<JobData["results"]>): ResultBackend {
    const key = JSON.stringify(json);
    let backend = this.backends.get(key);
    if (backend === undefined) {
      backend = this.code.openResults(json);
      if (this.backends.size >= MAX_FLOWS) this.backends.delete(this.backends.keys().next().value!);
      this.backends.set(key, backend);
    }
    return backend;
  }

  /**
   * Runs a job's items; synchronous bodies yield to the event loop between them
   * (lock renewals, cancels). The items of a job share one abort controller
   * (cancelling a run or a job aborts them all), not one each.
   */
  private async runItems(
    flow: Flow<unknown>,
    results: ResultBackend | undefined,
    data: JobData,
    stalls: number,
    signal: AbortSignal | undefined,
  ): Promise<ItemReply[]> {
    let controllers = this.running.get(data.flowRunId);
    if (controllers === undefined) {
      controllers = new Set();
      this.running.set(data.flowRunId, controllers);
    }
    const controller = new AbortController();
    const onJobAbort = () => controller.abort(signal?.reason);
    signal?.addEventListener("abort", onJobAbort, { once: true });
    controllers.add(controller);
    const job: JobRun = {
      data,
      results,
      stalls,
      info: { id: data.flowRunId, flowName: data.flowName, parameters: data.parameters },
      signal: controller.signal,
    };
    const out: (ItemReply | Promise<ItemReply>)[] = [];
    let lastYield = performance.now();
    try {
      for (const item of data.items) {
        out.push(this.runItem(flow, job, item));
        if (performance.now() - lastYield > 50) {
          await yieldToEventLoop();
          lastYield = performance.now();
        }
      }
      return await Promise.all(out);
    } finally {
      controllers.delete(controller);
      signal?.removeEventListener("abort", onJobAbort);
      if (controllers.size === 0) this.running.delete(data.flowRunId);
    }
  }

  /** One item: its outcome as a reply, now when its body and values allow, else a promise. */
  private runItem(flow: Flow<unknown>, job: JobRun, item: JobItem): ItemReply | Promise<ItemReply> {
    const attempt = item.attempt + job.stalls;
    const logs: LogRecord[] = [];
    let outcome: TaskOutcome | Promise<TaskOutcome>;
    try {
      const node = flow.graph.node(item.slug);
      const scope = {
        info: job.info,
        signal: job.signal,
        logSink: (record: LogRecord) => logs.push(record),
        results: undefined,
      };
      const ctx = new TaskRunContext(
        scope,
        node,
        item.mapIndex,
        attempt,
        item.loop?.count ?? 1,
        item.loop === undefined ? undefined : decodeInline(item.loop.result),
        item.approved === true,
      );
      const wires = item.args;
      let byReference = false;
      for (const wire of wires) if ("r" in wire) byReference = true;
      if (byReference) {
        outcome = Promise.all(wires.map((wire) => this.decode(wire, job.results, item.slug))).then(
          (args) => hostTask(ctx, node.task.fn, args),
        );
      } else {
        const args: unknown[] = new Array(wires.length);
        for (let k = 0; k < wires.length; k++) args[k] = decodeInline(wires[k]!);
        outcome = hostTask(ctx, node.task.fn, args);
      }
    } catch (error) {
      // No such task, or an input that cannot be read.
      outcome = failure(error);
    }
    if (outcome instanceof Promise) {
      return outcome.then(
        (settled) => this.reply(job, item, attempt, logs, settled),
        (error: unknown) => this.reply(job, item, attempt, logs, failure(error)),
      );
    }
    return this.reply(job, item, attempt, logs, outcome);
  }

  /** An outcome as the item's reply, its value encoded (by reference when large and the run has a backend). */
  private reply(
    job: JobRun,
    item: JobItem,
    attempt: number,
    logs: LogRecord[],
    outcome: TaskOutcome,
  ): ItemReply | Promise<ItemReply> {
    try {
      if (outcome.ok) {
        const value = this.encode(outcome.value, job, item, attempt);
        if (value instanceof Promise) {
          return value.then(
            (wire) => ({
              id: item.id,
              ok: true as const,
              attempt,
              value: wire,
              ...(logs.length ? { logs } : {}),
            }),
            (error: unknown) => this.failed(item, attempt, logs, failure(error)),
          );
        }
        return { id: item.id, ok: true, attempt, value, ...(logs.length ? { logs } : {}) };
      }
      const directive = outcome.directive;
      if (directive?.kind === "loop" || directive?.kind === "succeed") {
        // Loop's result comes back inline: the next iteration's job carries it inline too.
        const result =
          directive.kind === "loop"
            ? this.encodeInline(directive.result, item)
            : this.encode(directive.result, job, item, attempt);
        if (result instanceof Promise) {
          return result.then(
            (wire) => this.failed(item, attempt, logs, outcome, wire),
            (error: unknown) => this.failed(item, attempt, logs, failure(error)),
          );
        }
        return this.failed(item, attempt, logs, outcome, result);
      }
      return this.failed(item, attempt, logs, outcome);
    } catch (error) {
      // A result that cannot be sent back.
      return this.failed(item, attempt, logs, failure(error));
    }
  }

  private failed(
    item: JobItem,
    attempt: number,
    logs: LogRecord[],
    outcome: TaskOutcome,
    result?: WireValue,
  ): ItemReply {
    return {
      id: item.id,
      ok: false,
      attempt,
      ...failureReply(outcome as Extract<TaskOutcome, { ok: false }>, result),
      ...(logs.length ? { logs } : {}),
    };
  }

  private async decode(
    wire: WireValue,
    results: ResultBackend | undefined,
    slug: string,
  ): Promise<unknown> {
    if (!("r" in wire)) return decodeInline(wire);
    if (results === undefined) {
      throw new WeftError(
        "RESULT_UNREADABLE",
        `an input of task ${slug} is a result reference, but the job names no result backend`,
      );
    }
    return results.read(wire.r);
  }

  /** `value` as an inline wire value, or VALUE_NOT_CLONEABLE naming the task. */
  private encodeInline(value: unknown, item: JobItem): WireValue {
    try {
      return encodeValue(value).wire;
    } catch (error) {
      throw new WeftError(
        "VALUE_NOT_CLONEABLE",
        `the loop result of task ${item.slug} cannot be sent back from worker ${this.name}: ${describe(value)} cannot be serialized (${(error as Error).message})`,
        {
          hint: "pass data to Loop (objects, arrays, strings, numbers, Dates, Maps, typed arrays)",
        },
      );
    }
  }

  private encode(
    value: unknown,
    job: JobRun,
    item: JobItem,
    attempt: number,
  ): WireValue | Promise<WireValue> {
    let encoded: ReturnType<typeof encodeValue>;
    try {
      encoded = encodeValue(value);
    } catch (error) {
      throw new WeftError(
        "VALUE_NOT_CLONEABLE",
        `the result of task ${item.slug} cannot be sent back from worker ${this.name}: ${describe(value)} cannot be serialized (${(error as Error).message})`,
        {
          hint: "return data (objects, arrays, strings, numbers, Dates, Maps, typed arrays), not functions, class instances with methods or handles",
        },
      );
    }
    // Large results go by reference when the run has a result backend; without one they travel inline.
    const results = job.results;
    if (encoded.bytes <= job.data.inlineLimitBytes || results === undefined) return encoded.wire;
    const location = referenceLocation(
      job.data.flowRunId,
      item.slug,
      item.mapIndex,
      attempt,
      "out",
    );
    return results.write(value, location).then((r) => ({ r }));
  }

  private logJob(data: JobData, replies: readonly ItemReply[], ms: number): void {
    const items = data.items;
    const failed = replies.filter((r) => !r.ok);
    const first = items[0]!;
    const slugs = [...new Set(items.map((i) => i.slug))];
    const indexes = items.flatMap((i) => (i.mapIndex === undefined ? [] : [i.mapIndex]));
    const span =
      indexes.length === 0
        ? ""
        : indexes.length === 1
          ? `[${indexes[0]}]`
          : `[${Math.min(...indexes)}..${Math.max(...indexes)}]`;
    const what =
      items.length === 1
        ? `task ${first.slug}${span}`
        : `${items.length} tasks of ${slugs.join(", ")}${span}`;
    const outcome = failed.length === 0 ? "ok" : `${failed.length} failed`;
    this.logger.info(`flow run ${data.flowRunId}: ${what} ${outcome} in ${ms.toFixed(1)} ms`, {
      flowRunId: data.flowRunId,
    });
    for (const reply of failed) {
      if (reply.ok) continue;
      const item = items.find((i) => i.id === reply.id);
      this.logger.warn(
        `flow run ${data.flowRunId}: task ${item?.slug ?? "?"}${item?.mapIndex === undefined ? "" : `[${item.mapIndex}]`} failed: ${reply.error.message}`,
        { flowRunId: data.flowRunId },
      );
    }
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.liveness);
    const grace = this.options.shutdownGraceMs ?? 30_000;
    // Off the liveness list first: no new run should count on this worker.
    await this.redis
      .multi()
      .zrem(workersKey(this.prefix), this.name)
      .del(workerInfoKey(this.prefix, this.name))
      .exec()
      .catch(() => {});
    let timer: NodeJS.Timeout | undefined;
    const finished = Promise.all(this.workers.map((w) => w.close())).then(() => true);
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), grace);
    });
    const inTime = await Promise.race([finished, late]);
    clearTimeout(timer);
    if (!inTime) {
      this.logger.warn(`tasks still running after ${grace} ms: aborting them`);
      for (const set of this.running.values())
        for (const c of set) c.abort(new Error("the worker stopped"));
      await Promise.all(this.workers.map((w) => w.close(true).catch(() => {})));
    }
    await closeRedis(this.subscriber);
    await closeRedis(this.redis);
  }
}

function describe(value: unknown): string {
  if (typeof value === "function") return "a function";
  if (typeof value === "symbol") return "a symbol";
  if (typeof value === "object" && value !== null)
    return `a ${value.constructor?.name ?? "null-prototype object"}`;
  return `a ${typeof value}`;
}

/**
 * Starts a worker serving `queues` on Redis, loading flows through `code`: it
 * checks Redis (REDIS_UNREACHABLE naming the address after bounded retries),
 * registers its liveness, and runs jobs until {@link DistributedWorker.close}.
 * Users start one through `startDistributedWorker` (environments/distributed),
 * which passes the storage-backed loader.
 */
export async function startWorkerLoop(
  options: DistributedWorkerOptions,
  code: WorkerCodeLoader,
): Promise<DistributedWorker> {
  for (const queue of options.queues ?? []) {
    if (!QUEUE_NAME.test(queue)) {
      throw new WeftError(
        "USAGE",
        `queue name ${JSON.stringify(queue)} is not valid (letters, digits, _ . -)`,
      );
    }
  }
  if (options.queues !== undefined && options.queues.length === 0) {
    throw new WeftError("USAGE", "a worker must serve at least one queue");
  }
  const redis = await connectRedis(options.redisUrl, { who: "weft worker" });
  redis.on("error", (error: Error) =>
    options.logger.warn(`Redis at ${redisAddress(options.redisUrl)}: ${error.message}`),
  );
  const loop = new WorkerLoop(options, redis, code);
  try {
    await loop.start();
  } catch (error) {
    await loop.close();
    throw error;
  }
  return loop;
}
