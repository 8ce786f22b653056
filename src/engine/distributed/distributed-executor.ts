// The distributed executor: task bodies run as BullMQ jobs on `weft worker`
// processes (distributed-worker.ts), the task runner stays here.
//
// How an attempt travels:
//   invoke → inputs encoded (inline up to `inlineLimitBytes`, else written to the
//   run's result backend and sent as a reference) → pushed on its queue's
//   pending list → one setImmediate per tick flushes every queue's pending list
//   as jobs (`addBulk`) → a worker replies per item (an outcome on the wire,
//   distributed-protocol.ts) → QueueEvents "completed" settles each waiter.
// How many task runs a job carries is learnt per task (`jobSize`): the time a
// worker reports running a job's items, over its items, is a cost per item
// (an upper bound: a worker interleaves the jobs it holds at once). Long
// tasks travel one per job (workers share them out evenly, the last one does
// not wait behind a batch); trivial ones travel by the hundred (one queue
// round trip for many). Before the first measure, jobs are small enough to
// give every worker slot several.
// Besides events, three paths settle waiters: "failed" and "stalled" events,
// cancellation (jobs withdrawn, a cancel message published to workers), and a
// watchdog once a second (Redis gone too long, no live worker for a queue,
// events lost to the capped stream: the job is looked up).
//
// Invariants: `invoke` never throws or rejects; every way out is an outcome.
// A waiter is settled exactly once: every path goes through `settleJob`, which
// removes the job from `jobs` first. An error that another attempt cannot fix
// (a bad queue tag, inputs that cannot travel, no worker) is `retryable: false`.
//
// Over 600 lines on purpose: one class owns the in-flight `jobs` map and every
// path that settles it; split, the map and its invariant would have to be shared.
import { createHash } from "node:crypto";
import type * as BullMQ from "bullmq";
import type { Queue, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import { WeftError } from "../../core/errors.ts";
import {
  type DistributedExecutorOptions,
  distributedExecutorSpec,
  parseExecutorSpec,
} from "../../core/executor-spec.ts";
import type { Flow } from "../../core/flow.ts";
import type { Ref } from "../../core/graph.ts";
import type { LogRecord } from "../../core/reporter.ts";
import { toErrorData } from "../../core/states.ts";
import type { Executor, ExecutorKindEntry } from "../executors/executor.ts";
import {
  failure,
  finalFailure,
  hostTask,
  success,
  type TaskOutcome,
  type TaskRunContext,
  type TaskScope,
} from "../task-host.ts";
import {
  cancelChannel,
  DEFAULT_INLINE_LIMIT_BYTES,
  DEFAULT_PREFIX,
  DEFAULT_QUEUE,
  decodeInline,
  encodeValue,
  failureOfReply,
  formatBytes,
  type ItemReply,
  JOB_NAME,
  type JobData,
  type JobItem,
  jobReplySchema,
  PROTOCOL_VERSION,
  QUEUE_NAME,
  queueOfTags,
  redisAddress,
  referenceLocation,
  type WireValue,
} from "./distributed-protocol.ts";
import { loadBullmq } from "./queue-modules.ts";
import { closeRedis, connectRedis, readLiveWorkers } from "./redis-client.ts";

/** A task run waiting for its worker. */
interface Waiter {
  readonly ctx: TaskRunContext;
  readonly slug: string;
  readonly mapIndex: number | undefined;
  readonly attempt: number;
  /** Settles the attempt (once; later calls are ignored by the promise). */
  readonly resolve: (outcome: TaskOutcome) => void;
}

/** A job on its way or on a worker. */
interface InFlightJob {
  readonly id: string;
  readonly queue: QueueState;
  readonly waiters: Map<number, Waiter>;
  readonly addedAt: number;
  started: boolean;
}

interface QueueState {
  readonly name: string;
  readonly queue: Queue;
  events: QueueEvents | undefined;
  readonly ready: Promise<void>;
  pending: { item: JobItem; waiter: Waiter }[];
  jobs: number;
  /** Since when no live worker serves this queue (0: one does, or unknown). */
  orphanSince: number;
  warned: boolean;
  /** Live workers serving this queue and their slots, when the run started (at least 1). */
  readonly workers: number;
  readonly slots: number;
}

/** Jobs kept in Redis after they finish (the reply travels in the event; this is for the lost-event sweep). */
const KEEP_COMPLETED = { age: 300, count: 10_000 };
const KEEP_FAILED = { age: 3600, count: 10_000 };
/** How long Redis may be gone before every waiting task fails. */
const REDIS_GONE_LIMIT_MS = 10_000;
/** A job older than this without its event is looked up (the event stream is capped). */
const LOST_EVENT_AFTER_MS = 15_000;
/**
 * Most task runs in one job unless `maxChunk` says otherwise. Trivial tasks are
 * bounded sooner by leaving each worker two jobs of `maxInFlight` (250 with
 * two workers and the default 1000): a cap of 100 cost a quarter more CPU per
 * trivial task over the executor, the workers and Redis (issue 16).
 */
const DEFAULT_MAX_CHUNK = 1000;
/** About how long one job should keep its worker busy: longer tasks go one per job. */
const JOB_WORK_MS = 50;
/** Before the first measure: jobs enough for this many per worker slot. */
const UNMEASURED_JOBS_PER_SLOT = 4;
/** Weight of the newest measure in the moving average of a task run's cost. */
const COST_WEIGHT = 0.3;
/** The least cost a task run counts for (a job of trivial items reports about 0 ms). */
const MIN_COST_MS = 0.001;

/**
 * Runs task bodies as BullMQ jobs on `weft worker` processes. The task runner
 * stays in this process (retries, timeouts, triggers and caches keep their
 * meaning); a job carries only what a worker needs to run bodies: the storage's
 * JSON and the flow's location (no code, no credentials), the run, and for each
 * task run its slug, map index, attempt and inputs. Invokes arriving in the
 * same tick are coalesced into jobs of up to `maxChunk` task runs, sized by
 * what a task run of that queue costs on a worker: mapping many trivial items
 * costs few queue round trips, and long tasks still spread evenly over workers.
 */
export class DistributedExecutor implements Executor {
  readonly kind = "distributed";
  /** Timeouts are soft: the body on its worker is abandoned, the task marked TimedOut. */
  readonly hardTimeouts = false;
  readonly maxInFlight: number;
  private readonly options: DistributedExecutorOptions;
  private readonly prefix: string;
  private readonly defaultQueue: string;
  private readonly maxChunk: number;
  private readonly inlineLimit: number;
  private readonly noWorkerTimeoutMs: number;
  private readonly originKey: string;
  private redis: Redis | undefined;
  private bullmq: typeof BullMQ | undefined;
  private readonly queues = new Map<string, QueueState>();
  private readonly jobs = new Map<string, InFlightJob>();
  private scope: TaskScope | undefined;
  private resultsJson: JobData["results"];
  /** Live workers and their slots per queue, read when the run starts. */
  private readonly served = new Map<string, { workers: number; slots: number }>();
  /** Task slug → milliseconds a run of it takes on a worker, a moving average. */
  private readonly costs = new Map<string, number>();
  private nextItem = 1;
  private nextJob = 1;
  private flushing = false;
  private closed = false;
  private cancelled = false;
  private withdrawn: Promise<void> | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private redisGoneSince = 0;
  private sweeping = false;
  private flowName = "";

  constructor(spec: DistributedExecutorOptions) {
    // Its kind's schema (core/executor-spec.ts), with its messages and hint.
    const options = parseExecutorSpec(spec) as DistributedExecutorOptions;
    this.options = options;
    this.prefix = options.prefix ?? DEFAULT_PREFIX;
    this.defaultQueue = options.queue ?? DEFAULT_QUEUE;
    this.maxInFlight = options.maxInFlight ?? 1000;
    this.maxChunk = options.maxChunk ?? DEFAULT_MAX_CHUNK;
    this.inlineLimit = options.inlineLimitBytes ?? DEFAULT_INLINE_LIMIT_BYTES;
    this.noWorkerTimeoutMs = options.noWorkerTimeoutMs ?? 30_000;
    this.originKey = createHash("sha256")
      .update(JSON.stringify(options.origin))
      .digest("hex")
      .slice(0, 32);
  }

  async start(flow: Flow<unknown>): Promise<void> {
    this.flowName = flow.name;
    this.bullmq = await loadBullmq();
    this.redis = await connectRedis(this.options.redisUrl, { who: "the distributed executor" });
    this.redis.on("error", () => {});
    try {
      for (const worker of await readLiveWorkers(this.redis, this.prefix)) {
        for (const queue of worker.queues) {
          const served = this.served.get(queue) ?? { workers: 0, slots: 0 };
          served.workers++;
          served.slots += worker.concurrency;
          this.served.set(queue, served);
        }
      }
    } catch {
      // Best effort: queues count as served by one worker of 8 slots.
    }
    this.watchdog = setInterval(() => void this.watch(), 1000);
    this.watchdog.unref();
  }

  invoke(
    node: Ref<unknown>,
    args: readonly unknown[],
    ctx: TaskRunContext,
  ): TaskOutcome | Promise<TaskOutcome> {
    // Built-in nodes (conditions, merges) are tiny closures: they run here.
    if (node.task.kind !== "task") return hostTask(ctx, node.task.fn, args);
    if (this.closed || this.redis === undefined) {
      return failure(
        new WeftError("WORKER_FAILED", `task ${node.slug}: the distributed executor is closed`),
      );
    }
    if (this.scope === undefined) this.bind(ctx.scope);
    const queue = queueOfTags(node.task.options.tags, this.defaultQueue);
    if (!QUEUE_NAME.test(queue)) {
      return failNow(
        "INVALID_TASK_OPTIONS",
        `task ${node.slug}: queue tag "queue:${queue}" names no valid queue (letters, digits, _ . -)`,
      );
    }
    const mapIndex = ctx.mapIndex;
    const attempt = ctx.attempt;
    const wire: WireValue[] = new Array(args.length);
    const large: number[] = [];
    for (let k = 0; k < args.length; k++) {
      let encoded: ReturnType<typeof encodeValue>;
      try {
        encoded = encodeValue(args[k]);
      } catch (error) {
        return failNow(
          "VALUE_NOT_CLONEABLE",
          `input ${k} of task ${node.slug} cannot be sent to a worker: ${(error as Error).message}`,
          "pass data between tasks (objects, arrays, strings, numbers, Dates, Maps, typed arrays), not functions or handles",
        );
      }
      wire[k] = encoded.wire;
      if (encoded.bytes <= this.inlineLimit) continue;
      if (this.scope!.results === undefined) {
        return failNow(
          "RESULT_NOT_PERSISTED",
          `input ${k} of task ${node.slug} is ${formatBytes(encoded.bytes)}, over the ${formatBytes(this.inlineLimit)} a job carries inline, and the flow has no result backend to pass it by reference`,
          "give the flow a result backend (flow option result) so large inputs travel by reference, or pass a smaller value (a path, a key)",
        );
      }
      large.push(k);
    }
    let loop: JobItem["loop"];
    if (ctx.loopCount > 1) {
      try {
        loop = { count: ctx.loopCount, result: encodeValue(ctx.loopResult).wire };
      } catch (error) {
        return failNow(
          "VALUE_NOT_CLONEABLE",
          `the loop result of task ${node.slug} cannot be sent to a worker: ${(error as Error).message}`,
          "pass data to Loop (objects, arrays, strings, numbers, Dates, Maps, typed arrays)",
        );
      }
    }
    return new Promise((resolve) => {
      const waiter: Waiter = { ctx, slug: node.slug, mapIndex, attempt, resolve };
      const item: JobItem = {
        id: this.nextItem++,
        slug: node.slug,
        ...(mapIndex === undefined ? {} : { mapIndex }),
        attempt,
        args: wire,
        ...(loop === undefined ? {} : { loop }),
        ...(ctx.approved ? { approved: true as const } : {}),
      };
      if (large.length === 0) {
        this.enqueue(queue, item, waiter);
        return;
      }
      const results = this.scope!.results!;
      Promise.all(
        large.map(async (k) => {
          const location = referenceLocation(
            this.scope!.info.id,
            node.slug,
            mapIndex,
            attempt,
            `in-${k}`,
          );
          wire[k] = { r: await results.write(args[k], location) };
        }),
      ).then(
        () => this.enqueue(queue, item, waiter),
        (error: unknown) => resolve(failure(error)),
      );
    });
  }

  /** Learns the run (id, parameters, result backend, cancel signal) from its first task. */
  private bind(scope: TaskScope): void {
    this.scope = scope;
    this.resultsJson = scope.results?.toJSON() as JobData["results"];
    const onAbort = () => this.cancel();
    if (scope.signal.aborted) onAbort();
    else scope.signal.addEventListener("abort", onAbort, { once: true });
  }

  private enqueue(queueName: string, item: JobItem, waiter: Waiter): void {
    if (this.closed) {
      waiter.resolve(
        failure(new WeftError("WORKER_FAILED", `task ${waiter.slug}: the run is over`)),
      );
      return;
    }
    this.queueState(queueName).pending.push({ item, waiter });
    if (!this.flushing) {
      this.flushing = true;
      setImmediate(() => {
        this.flushing = false;
        for (const state of this.queues.values()) {
          if (state.pending.length > 0) void this.flush(state);
        }
      });
    }
  }

  private queueState(name: string): QueueState {
    let state = this.queues.get(name);
    if (state !== undefined) return state;
    const redis = this.redis!;
    const { Queue, QueueEvents } = this.bullmq!;
    const queue = new Queue(name, { connection: redis, prefix: this.prefix });
    queue.on("error", () => {});
    const eventsKey = `${this.prefix}:${name}:events`;
    // Listen from the stream's current end, so no event of our jobs is missed however late XREAD starts.
    const ready = redis.xrevrange(eventsKey, "+", "-", "COUNT", 1).then(async (last) => {
      const lastEventId = last[0]?.[0] ?? "0-0";
      const events = new QueueEvents(name, {
        connection: redis,
        prefix: this.prefix,
        lastEventId,
        autorun: true,
      });
      state!.events = events;
      events.on("error", () => {});
      events.on("active", ({ jobId }) => {
        const job = this.jobs.get(jobId);
        if (job !== undefined) job.started = true;
      });
      events.on("completed", ({ jobId, returnvalue }) => this.completed(jobId, returnvalue));
      events.on("failed", ({ jobId, failedReason }) => this.failed(jobId, failedReason));
      events.on("stalled", ({ jobId }) => this.stalled(jobId));
      await Promise.all([events.waitUntilReady(), queue.waitUntilReady()]);
    });
    const served = this.served.get(name);
    state = {
      name,
      queue,
      events: undefined,
      ready,
      pending: [],
      jobs: 0,
      orphanSince: 0,
      warned: false,
      workers: Math.max(1, served?.workers ?? 1),
      slots: Math.max(1, served?.slots ?? 8),
    };
    this.queues.set(name, state);
    return state;
  }

  /**
   * How many task runs each job of `state` carries for `pending`: about
   * {@link JOB_WORK_MS} of work a job at the cost of the dearest task among
   * them (never more than leaves each worker two jobs of the run's
   * `maxInFlight`); while a task among them has no measure yet, enough jobs
   * for several per worker slot.
   */
  private jobSize(state: QueueState, pending: readonly { item: JobItem }[]): number {
    let cost = 0;
    let slug = "";
    for (const p of pending) {
      if (p.item.slug === slug) continue;
      slug = p.item.slug;
      const known = this.costs.get(slug);
      if (known === undefined) {
        const spread = UNMEASURED_JOBS_PER_SLOT * state.slots;
        return Math.max(1, Math.min(this.maxChunk, Math.ceil(pending.length / spread)));
      }
      if (known > cost) cost = known;
    }
    const spread = Math.ceil(this.maxInFlight / (2 * state.workers));
    return Math.max(1, Math.min(Math.floor(JOB_WORK_MS / cost), spread, this.maxChunk));
  }

  /** Ships what is pending on one queue as jobs of {@link jobSize} task runs, sizes even. */
  private async flush(state: QueueState): Promise<void> {
    const pending = state.pending;
    state.pending = [];
    const b = pending.length;
    const count = Math.ceil(b / this.jobSize(state, pending));
    const scope = this.scope!;
    const bulk: Parameters<Queue["addBulk"]>[0] = [];
    const made: InFlightJob[] = [];
    for (let j = 0, at = 0; j < count; j++) {
      const end = Math.round(((j + 1) * b) / count);
      const slice = pending.slice(at, end);
      at = end;
      const id = `${scope.info.id}.${this.nextJob++}`;
      const job: InFlightJob = {
        id,
        queue: state,
        waiters: new Map(slice.map((p) => [p.item.id, p.waiter])),
        addedAt: Date.now(),
        started: false,
      };
      const data: JobData = {
        v: PROTOCOL_VERSION,
        origin: {
          key: this.originKey,
          storage: this.options.origin.storage,
          location: this.options.origin.location,
        },
        flowRunId: scope.info.id,
        flowName: scope.info.flowName,
        parameters: scope.info.parameters as Record<string, unknown>,
        ...(this.resultsJson === undefined ? {} : { results: this.resultsJson }),
        inlineLimitBytes: this.inlineLimit,
        items: slice.map((p) => p.item),
      };
      this.jobs.set(id, job);
      state.jobs++;
      made.push(job);
      bulk.push({
        name: JOB_NAME,
        data,
        opts: {
          jobId: id,
          attempts: 1,
          removeOnComplete: KEEP_COMPLETED,
          removeOnFail: KEEP_FAILED,
        },
      });
    }
    try {
      await state.ready;
      await state.queue.addBulk(bulk);
    } catch (error) {
      const address = redisAddress(this.options.redisUrl);
      for (const job of made) {
        this.settleJob(job, (w) =>
          w.resolve(
            failure(
              new WeftError(
                "REDIS_UNREACHABLE",
                `task ${w.slug} could not be queued on ${address} (queue ${state.name}): ${toErrorData(error).message}`,
              ),
            ),
          ),
        );
      }
    }
  }

  private completed(jobId: string, returnvalue: unknown): void {
    const job = this.jobs.get(jobId);
    if (job === undefined) return;
    const parsed = jobReplySchema.safeParse(
      typeof returnvalue === "string" ? safeJson(returnvalue) : returnvalue,
    );
    if (!parsed.success) {
      this.failed(jobId, `the worker's reply is malformed: ${parsed.error.issues[0]?.message}`);
      return;
    }
    const reply = parsed.data;
    if (reply.ms !== undefined && reply.items.length > 0) {
      const cost = Math.max(reply.ms / reply.items.length, MIN_COST_MS);
      let slug = "";
      for (const waiter of job.waiters.values()) {
        if (waiter.slug === slug) continue;
        slug = waiter.slug;
        const known = this.costs.get(slug);
        this.costs.set(slug, known === undefined ? cost : known + COST_WEIGHT * (cost - known));
      }
    }
    const byId = new Map<number, ItemReply>();
    for (const item of reply.items) byId.set(item.id, item);
    this.settleJob(job, (waiter, id) => {
      const item = byId.get(id);
      if (item === undefined) {
        waiter.resolve(
          failure(
            new WeftError(
              "WORKER_FAILED",
              `task ${waiter.slug}: worker ${reply.worker} returned no result for it`,
            ),
          ),
        );
        return;
      }
      this.deliver(waiter, item, reply.worker);
    });
  }

  private deliver(waiter: Waiter, item: ItemReply, worker: string): void {
    const sink = waiter.ctx.scope.logSink;
    if (sink !== undefined) {
      for (const record of item.logs ?? []) sink(record as LogRecord);
      if (item.attempt > waiter.attempt) {
        sink({
          level: "warn",
          message: `task ${waiter.slug} ran as attempt ${item.attempt} on worker ${worker}: ${item.attempt - waiter.attempt} earlier start(s) stalled (their worker stopped mid-task) and BullMQ re-queued the job`,
          time: Date.now(),
          flowRunId: waiter.ctx.flowRunId,
          taskSlug: waiter.slug,
          ...(waiter.mapIndex === undefined ? {} : { mapIndex: waiter.mapIndex }),
        });
      }
    }
    if (!item.ok) {
      this.deliverFailure(waiter, item, worker);
      return;
    }
    const wire = item.value;
    if ("r" in wire) {
      const results = waiter.ctx.scope.results;
      if (results === undefined) {
        waiter.resolve(
          failure(
            new WeftError(
              "RESULT_UNREADABLE",
              `task ${waiter.slug}: a result reference without a result backend`,
            ),
          ),
        );
        return;
      }
      results.read(wire.r).then(
        (value) => waiter.resolve(success(value)),
        (error: unknown) => waiter.resolve(failure(error)),
      );
      return;
    }
    try {
      waiter.resolve(success(decodeInline(wire)));
    } catch (error) {
      waiter.resolve(
        failure(
          new WeftError(
            "RESULT_UNREADABLE",
            `the result of task ${waiter.slug} from worker ${worker} cannot be decoded: ${toErrorData(error).message}`,
          ),
        ),
      );
    }
  }

  /** A failed item, with the result a Loop or Succeed carried decoded (read back when it went by reference). */
  private deliverFailure(
    waiter: Waiter,
    item: Extract<ItemReply, { ok: false }>,
    worker: string,
  ): void {
    const wire = item.result;
    if (wire === undefined) {
      waiter.resolve(failureOfReply(item));
      return;
    }
    const unreadable = (error: unknown) =>
      waiter.resolve(
        failure(
          new WeftError(
            "RESULT_UNREADABLE",
            `the result task ${waiter.slug} signalled on worker ${worker} cannot be decoded: ${toErrorData(error).message}`,
          ),
        ),
      );
    if ("r" in wire) {
      const results = waiter.ctx.scope.results;
      if (results === undefined) {
        unreadable(new Error("a result reference without a result backend"));
        return;
      }
      results.read(wire.r).then((value) => waiter.resolve(failureOfReply(item, value)), unreadable);
      return;
    }
    try {
      waiter.resolve(failureOfReply(item, decodeInline(wire)));
    } catch (error) {
      unreadable(error);
    }
  }

  private failed(jobId: string, reason: string): void {
    const job = this.jobs.get(jobId);
    if (job === undefined) return;
    this.settleJob(job, (w) =>
      w.resolve(
        failure(
          new WeftError(
            "WORKER_FAILED",
            `task ${w.slug} did not finish on a worker (queue ${job.queue.name}): ${reason}`,
          ),
        ),
      ),
    );
  }

  private stalled(jobId: string): void {
    const job = this.jobs.get(jobId);
    if (job === undefined) return;
    job.started = false;
    for (const w of job.waiters.values()) {
      w.ctx.scope.logSink?.({
        level: "warn",
        message: `the worker running task ${w.slug} stopped mid-task; BullMQ re-queued its job for another worker (the re-run counts as the next attempt)`,
        time: Date.now(),
        flowRunId: w.ctx.flowRunId,
        taskSlug: w.slug,
        ...(w.mapIndex === undefined ? {} : { mapIndex: w.mapIndex }),
      });
    }
  }

  /** Ends a job: each waiter is settled by `each`, once. */
  private settleJob(job: InFlightJob, each: (waiter: Waiter, id: number) => void): void {
    if (!this.jobs.delete(job.id)) return;
    job.queue.jobs--;
    for (const [id, waiter] of job.waiters) each(waiter, id);
    job.waiters.clear();
  }

  /** Once a second: Redis gone too long, queues no live worker serves, events lost to the capped stream. */
  private async watch(): Promise<void> {
    if (this.sweeping || this.closed || this.redis === undefined) return;
    this.sweeping = true;
    try {
      const now = Date.now();
      if (this.redis.status !== "ready") {
        this.redisGoneSince ||= now;
        if (now - this.redisGoneSince > REDIS_GONE_LIMIT_MS) this.failEverything();
        return;
      }
      this.redisGoneSince = 0;
      if (this.jobs.size === 0) return;
      await this.checkOrphans(now);
      await this.findLostEvents(now);
    } catch {
      // The next tick tries again; a Redis that stays gone is caught above.
    } finally {
      this.sweeping = false;
    }
  }

  private failEverything(): void {
    const address = redisAddress(this.options.redisUrl);
    for (const job of [...this.jobs.values()]) {
      this.settleJob(job, (w) =>
        w.resolve(
          failure(
            new WeftError(
              "REDIS_UNREACHABLE",
              `task ${w.slug}: lost Redis at ${address} for over ${REDIS_GONE_LIMIT_MS / 1000} s while it ran`,
            ),
          ),
        ),
      );
    }
  }

  private async checkOrphans(now: number): Promise<void> {
    const waiting = new Set<QueueState>();
    for (const job of this.jobs.values()) if (!job.started) waiting.add(job.queue);
    if (waiting.size === 0) return;
    const workers = await readLiveWorkers(this.redis!, this.prefix);
    for (const state of waiting) {
      if (workers.some((w) => w.queues.includes(state.name))) {
        state.orphanSince = 0;
        continue;
      }
      state.orphanSince ||= now;
      if (!state.warned) {
        state.warned = true;
        this.scope?.logSink?.({
          level: "warn",
          message: `no live worker serves queue "${state.name}": its tasks wait (start one with: weft worker start --redis <url> --queues ${state.name})`,
          time: now,
          flowRunId: this.scope.info.id,
        });
      }
      if (now - state.orphanSince < this.noWorkerTimeoutMs) continue;
      for (const job of [...this.jobs.values()]) {
        if (job.queue !== state || job.started) continue;
        const removed = await state.queue.remove(job.id).catch(() => 0);
        if (removed === 0) continue; // a worker took it meanwhile
        this.settleJob(job, (w) =>
          w.resolve(
            failNow(
              "NO_LIVE_WORKER",
              `task ${w.slug} did not start: no live worker serves queue "${state.name}" (waited ${Math.round((now - job.addedAt) / 1000)} s)`,
              `start a worker for it: weft worker start --redis <url> --queues ${state.name}`,
            ),
          ),
        );
      }
    }
  }

  private async findLostEvents(now: number): Promise<void> {
    let looked = 0;
    for (const job of [...this.jobs.values()]) {
      if (now - job.addedAt < LOST_EVENT_AFTER_MS || looked++ >= 100) continue;
      const found = await job.queue.queue.getJob(job.id);
      if (found === undefined || found === null) continue;
      if (found.finishedOn === undefined) continue;
      if (found.failedReason) this.failed(job.id, found.failedReason);
      else this.completed(job.id, found.returnvalue);
    }
  }

  /** The run was cancelled: pending jobs leave the queues and workers abort what they run. */
  private cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.withdrawn = this.withdraw();
  }

  private async withdraw(): Promise<void> {
    const redis = this.redis;
    if (redis === undefined) return;
    const jobs = [...this.jobs.values()];
    for (const job of jobs) {
      this.settleJob(job, (w) =>
        w.resolve(failure(new WeftError("WORKER_FAILED", "the flow run was cancelled"))),
      );
    }
    await Promise.all([
      redis.publish(cancelChannel(this.prefix), this.scope?.info.id ?? "").catch(() => 0),
      ...jobs.map((job) => job.queue.queue.remove(job.id).catch(() => 0)),
    ]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Jobs still out (a soft timeout abandoned them, or the run was cancelled) are withdrawn.
    if (this.jobs.size > 0) this.cancel();
    await this.withdrawn;
    this.closed = true;
    clearInterval(this.watchdog);
    const states = [...this.queues.values()];
    await Promise.all(
      states.map(async (state) => {
        await state.ready.catch(() => {});
        await Promise.all([
          state.events?.close().catch(() => {}),
          state.queue.close().catch(() => {}),
        ]);
      }),
    );
    await closeRedis(this.redis);
  }
}

/** A failed attempt the task runner does not retry (a retry would fail the same way). */
function failNow(
  code: "INVALID_TASK_OPTIONS" | "VALUE_NOT_CLONEABLE" | "RESULT_NOT_PERSISTED" | "NO_LIVE_WORKER",
  message: string,
  hint?: string,
): TaskOutcome {
  return finalFailure(new WeftError(code, message, hint === undefined ? undefined : { hint }));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Makes the distributed executor from its options (checked here). */
export function createDistributedExecutor(options: DistributedExecutorOptions): Executor {
  return new DistributedExecutor(options);
}

/** The distributed executor kind (made by the distributed environment, which knows the flow's origin). */
export const distributedExecutorKind: ExecutorKindEntry<DistributedExecutorOptions> = {
  ...distributedExecutorSpec,
  create: createDistributedExecutor,
};
