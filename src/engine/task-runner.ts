import { setTimeout as sleep } from "node:timers/promises";
import type { Ref } from "../core/graph.ts";
import type { Reporter } from "../core/reporter.ts";
import type { ResultContext } from "../core/results.ts";
import { signalOf } from "../core/signals.ts";
import { State, toErrorData } from "../core/states.ts";
import { type CacheEntry, CONTENT_CACHE_TTL_MS, type ResultCache } from "./cache.ts";
import { type Executor, TaskTimeout } from "./executors/executor.ts";
import { type RunScope, TaskRunContext } from "./task-context.ts";

/** A state, now or later. Synchronous task bodies finish without a promise. */
export type MaybePromise<T> = T | Promise<T>;

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/**
 * Runs one task run (or one mapped child): cache check, attempts through the
 * executor, soft timeouts, retries with delays, result persistence, and the
 * state events between. Triggers and skips are decided by the flow runner
 * before it gets here. Without a cache or a result backend, a synchronous task
 * body completes with no promise and two allocations (context, final state).
 */
export class TaskRunner {
  constructor(
    private readonly scope: RunScope,
    private readonly executor: Executor,
    private readonly reporter: Reporter | undefined,
    private readonly cache: ResultCache,
  ) {}

  /** Runs `node` (child `mapIndex` when mapped) with resolved arguments to a finished state. */
  run(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
  ): MaybePromise<State> {
    const startedAt = Date.now();
    const options = node.task.options;
    if (options.cacheFor === undefined && options.cache === undefined) {
      return this.start(node, mapIndex, args, startedAt, undefined);
    }
    let cacheKey: string;
    try {
      cacheKey = this.cache.keyFor(this.scope.info.flowName, node, args);
    } catch (error) {
      const data = toErrorData(error);
      return new State(
        "Failed",
        `cannot compute the cache key: ${data.message}`,
        undefined,
        data,
        startedAt,
        0,
      );
    }
    const hit = this.cache.get(cacheKey, this.scope.results);
    if (hit instanceof Promise) {
      return hit.then(
        (entry) =>
          this.fromCache(entry, cacheKey, startedAt) ??
          this.start(node, mapIndex, args, startedAt, cacheKey),
        (error: unknown) => {
          this.scope.logSink?.({
            level: "warn",
            message: `cache entry unreadable, running the task: ${toErrorData(error).message}`,
            time: Date.now(),
            flowRunId: this.scope.info.id,
            taskSlug: node.slug,
            ...(mapIndex === undefined ? {} : { mapIndex }),
          });
          return this.start(node, mapIndex, args, startedAt, cacheKey);
        },
      );
    }
    return (
      this.fromCache(hit, cacheKey, startedAt) ??
      this.start(node, mapIndex, args, startedAt, cacheKey)
    );
  }

  private fromCache(
    entry: CacheEntry | undefined,
    key: string,
    startedAt: number,
  ): State | undefined {
    if (entry === undefined) return undefined;
    const where = entry.location === undefined ? `key ${key}` : `at ${entry.location}`;
    return State.withResult(
      "Cached",
      `cached result from ${new Date(entry.createdAt).toISOString()} (${where})`,
      entry.value,
      startedAt,
      0,
      entry.location,
    );
  }

  private start(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    startedAt: number,
    cacheKey: string | undefined,
  ): MaybePromise<State> {
    this.emit(node, mapIndex, new State("Running", undefined, undefined, undefined, startedAt));
    return this.attempt(node, mapIndex, args, 1, startedAt, cacheKey);
  }

  private emit(node: Ref<unknown>, mapIndex: number | undefined, state: State): void {
    this.reporter?.taskState?.(this.scope.info, node, mapIndex, state);
  }

  private attempt(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    attempt: number,
    startedAt: number,
    cacheKey: string | undefined,
  ): MaybePromise<State> {
    const ctx = new TaskRunContext(this.scope, node, mapIndex, attempt);
    const timeout = node.task.options.timeout;
    const soft = timeout !== undefined && !this.executor.hardTimeouts;
    const attemptStart = soft ? performance.now() : 0;
    let out: unknown;
    try {
      out = this.executor.invoke(node, args, ctx);
    } catch (error) {
      return this.failed(node, mapIndex, args, attempt, startedAt, cacheKey, error);
    }
    if (isThenable(out)) {
      const pending = soft ? withSoftTimeout(out, timeout, ctx) : out;
      return Promise.resolve(pending).then(
        (value) => this.succeeded(node, mapIndex, value, attempt, startedAt, cacheKey),
        (error: unknown) => this.failed(node, mapIndex, args, attempt, startedAt, cacheKey, error),
      );
    }
    if (soft && performance.now() - attemptStart > timeout) {
      const ms = Math.round(performance.now() - attemptStart);
      const error = new TaskTimeout(
        false,
        timeout,
        `the task ran synchronously for ${ms} ms and could not be interrupted in-process (use the worker-threads executor for a hard timeout)`,
      );
      return this.failed(node, mapIndex, args, attempt, startedAt, cacheKey, error);
    }
    return this.succeeded(node, mapIndex, out, attempt, startedAt, cacheKey);
  }

  private succeeded(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    value: unknown,
    attempts: number,
    startedAt: number,
    cacheKey: string | undefined,
  ): MaybePromise<State> {
    const options = node.task.options;
    const results = this.scope.results;
    const checkpoint =
      results !== undefined && node.task.kind === "task" && (options.checkpoint ?? true);
    const cached =
      cacheKey === undefined
        ? undefined
        : this.cache.set(cacheKey, value, options.cacheFor ?? CONTENT_CACHE_TTL_MS, results);
    if (!checkpoint && cached === undefined) {
      return new State("Success", undefined, value, undefined, startedAt, attempts);
    }
    const where: ResultContext = {
      flowName: this.scope.info.flowName,
      flowRunId: this.scope.info.id,
      taskSlug: node.slug,
      taskName: node.task.name,
      mapIndex,
    };
    const written = checkpoint ? results.write(value, where) : Promise.resolve(undefined);
    return Promise.all([written, cached]).then(
      ([location]) => State.withResult("Success", undefined, value, startedAt, attempts, location),
      (error: unknown) => {
        const data = toErrorData(error);
        return new State(
          "Failed",
          `the result could not be persisted: ${data.message}${data.hint === undefined ? "" : ` (${data.hint})`}`,
          undefined,
          data,
          startedAt,
          attempts,
        );
      },
    );
  }

  private failed(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    attempt: number,
    startedAt: number,
    cacheKey: string | undefined,
    error: unknown,
  ): MaybePromise<State> {
    const signal = signalOf(error);
    if (signal === "skip") {
      return new State(
        "Skipped",
        (error as Error).message,
        undefined,
        undefined,
        startedAt,
        attempt,
      );
    }
    const data = toErrorData(error);
    const options = node.task.options;
    if (signal !== "fail" && attempt <= options.retries && !this.scope.signal.aborted) {
      let delay: number;
      try {
        delay =
          typeof options.retryDelay === "function"
            ? Number(options.retryDelay(attempt))
            : options.retryDelay;
      } catch (thrown) {
        const why = toErrorData(thrown);
        return new State(
          "Failed",
          `retryDelay of task ${node.task.name} threw: ${why.message}`,
          undefined,
          why,
          startedAt,
          attempt,
        );
      }
      if (!Number.isFinite(delay) || delay < 0) delay = 0;
      const retryAt = Date.now() + delay;
      this.emit(
        node,
        mapIndex,
        new State(
          "Retrying",
          `attempt ${attempt} of ${options.retries + 1} failed: ${data.message}`,
          undefined,
          data,
          startedAt,
          attempt,
          retryAt,
        ),
      );
      const next = () => this.attempt(node, mapIndex, args, attempt + 1, startedAt, cacheKey);
      if (delay <= 0) return Promise.resolve().then(next);
      return sleep(delay, undefined, { signal: this.scope.signal }).then(
        next,
        () =>
          new State(
            "Cancelled",
            "the flow run was cancelled while the task waited to retry",
            undefined,
            undefined,
            startedAt,
            attempt,
          ),
      );
    }
    if (error instanceof TaskTimeout || (error as { name?: unknown })?.name === "TaskTimeout") {
      return new State("TimedOut", data.message, undefined, data, startedAt, attempt);
    }
    return new State("Failed", data.message, undefined, data, startedAt, attempt);
  }
}

/** Races a task's promise against its timeout; on timeout the task is abandoned and its signal fires. */
function withSoftTimeout(
  pending: PromiseLike<unknown>,
  ms: number,
  ctx: TaskRunContext,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      const error = new TaskTimeout(
        false,
        ms,
        "the task was abandoned and its abort signal fired; in-process code cannot be stopped (use the worker-threads executor for a hard timeout)",
      );
      ctx.abort(error);
      reject(error);
    }, ms);
    pending.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
