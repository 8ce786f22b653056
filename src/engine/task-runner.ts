import { setTimeout as sleep } from "node:timers/promises";
import type { Ref } from "../core/graph.ts";
import type { Reporter } from "../core/reporter.ts";
import type { ResultContext } from "../core/results.ts";
import { type ErrorData, State, toErrorData } from "../core/states.ts";
import type { GatedTaskRun, TaskGate } from "../core/task-gate.ts";
import { type CacheEntry, CONTENT_CACHE_TTL_MS, type ResultCache } from "./cache.ts";
import { type Executor, TaskTimeout } from "./executors/executor.ts";
import {
  failure,
  isPending,
  type RunScope,
  type TaskFailure,
  type TaskOutcome,
  TaskRunContext,
} from "./task-host.ts";

/** A state, now or later. Synchronous task bodies finish without a promise. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Runs one task run (or one mapped child): cache check, attempts through the
 * executor, soft timeouts, retries with delays, result persistence, and the
 * state events between. Triggers and skips are decided by the flow runner
 * before it gets here. Each attempt goes through the executor, which answers
 * with a {@link TaskOutcome} (data, never a throw): the state follows from the
 * outcome alone (`skipped`, `retryable`, a TaskTimeout's type). Without a cache
 * or a result backend, a synchronous task body completes with no promise and
 * three allocations (context, outcome, final state).
 *
 * With a {@link TaskGate} (concurrency limits, given by an agent), a task run
 * that carries tags waits at the gate before its Running state, holds its slots
 * through its retries and gives them back before its final state is reported; a
 * task without tags costs one length check.
 */
export class TaskRunner {
  constructor(
    private readonly scope: RunScope,
    private readonly executor: Executor,
    private readonly reporter: Reporter | undefined,
    private readonly cache: ResultCache,
    private readonly gate: TaskGate | undefined = undefined,
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
    if (this.gate !== undefined && node.task.options.tags.length > 0)
      return this.gated(this.gate, node, mapIndex, args, cacheKey);
    this.emit(node, mapIndex, new State("Running", undefined, undefined, undefined, startedAt));
    return this.attempt(node, mapIndex, args, 1, startedAt, cacheKey);
  }

  /** `start` behind the gate: wait for slots (Pending, saying why), run, give them back. */
  private async gated(
    gate: TaskGate,
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    cacheKey: string | undefined,
  ): Promise<State> {
    const task: GatedTaskRun = {
      flowRunId: this.scope.info.id,
      slug: node.slug,
      mapIndex,
      tags: node.task.options.tags,
    };
    try {
      await gate.enter(task, this.scope.signal, (message) =>
        this.emit(node, mapIndex, new State("Pending", message)),
      );
    } catch (error) {
      if (this.scope.signal.aborted) {
        return new State(
          "Cancelled",
          "the flow run was cancelled while the task waited for a concurrency slot",
        );
      }
      const data = toErrorData(error);
      return new State(
        "Failed",
        `the task could not take its concurrency slots: ${data.message}`,
        undefined,
        data,
      );
    }
    // Its run starts now, when it holds its slots, not when it began to wait (so no
    // state before this one carries a start time).
    const startedAt = Date.now();
    try {
      this.emit(node, mapIndex, new State("Running", undefined, undefined, undefined, startedAt));
      return await this.attempt(node, mapIndex, args, 1, startedAt, cacheKey);
    } finally {
      await gate.exit(task);
    }
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
    let out: TaskOutcome | Promise<TaskOutcome>;
    try {
      out = this.executor.invoke(node, args, ctx);
    } catch (error) {
      // An executor breaking its contract (invoke never throws) still ends the attempt.
      out = failure(error);
    }
    if (isPending(out)) {
      const pending = soft ? withSoftTimeout(out, timeout, ctx) : out;
      return pending.then((outcome) =>
        this.settled(node, mapIndex, args, attempt, startedAt, cacheKey, outcome),
      );
    }
    if (soft && performance.now() - attemptStart > timeout) {
      const ms = Math.round(performance.now() - attemptStart);
      const error = new TaskTimeout(
        false,
        timeout,
        `the task ran synchronously for ${ms} ms and could not be interrupted in-process (use the worker-threads executor for a hard timeout)`,
      );
      return this.failed(node, mapIndex, args, attempt, startedAt, cacheKey, failure(error));
    }
    return this.settled(node, mapIndex, args, attempt, startedAt, cacheKey, out);
  }

  private settled(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    attempt: number,
    startedAt: number,
    cacheKey: string | undefined,
    outcome: TaskOutcome,
  ): MaybePromise<State> {
    return outcome.ok
      ? this.succeeded(node, mapIndex, outcome.value, attempt, startedAt, cacheKey)
      : this.failed(node, mapIndex, args, attempt, startedAt, cacheKey, outcome);
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
    outcome: TaskFailure,
  ): MaybePromise<State> {
    if (outcome.skipped === true) {
      return new State("Skipped", outcome.error.message, undefined, undefined, startedAt, attempt);
    }
    const data = outcome.error;
    const options = node.task.options;
    if (data.retryable !== false && attempt <= options.retries && !this.scope.signal.aborted) {
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
          stateError(data),
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
    const final = stateError(data);
    if (data.type === "TaskTimeout") {
      return new State("TimedOut", data.message, undefined, final, startedAt, attempt);
    }
    return new State("Failed", data.message, undefined, final, startedAt, attempt);
  }
}

/** A failure's error as a state keeps it: `retryable` is for the task runner, not the state's wire form. */
function stateError(data: ErrorData): ErrorData {
  if (data.retryable === undefined) return data;
  const { retryable: _, ...rest } = data;
  return rest;
}

/** Races an attempt against its timeout; on timeout the task is abandoned and its signal fires. */
function withSoftTimeout(
  pending: PromiseLike<TaskOutcome>,
  ms: number,
  ctx: TaskRunContext,
): Promise<TaskOutcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      const error = new TaskTimeout(
        false,
        ms,
        "the task was abandoned and its abort signal fired; in-process code cannot be stopped (use the worker-threads executor for a hard timeout)",
      );
      ctx.abort(error);
      resolve(failure(error));
    }, ms);
    pending.then((outcome) => {
      clearTimeout(timer);
      resolve(outcome);
    });
  });
}
