import { setTimeout as sleep } from "node:timers/promises";
import type { Ref } from "../core/graph.ts";
import type { Reporter } from "../core/reporter.ts";
import type { ResultContext } from "../core/results.ts";
import type { StateHandler } from "../core/state-handlers.ts";
import { type ErrorData, State, toErrorData } from "../core/states.ts";
import type { GatedTaskRun, TaskGate } from "../core/task-gate.ts";
import { CONTENT_CACHE_TTL_MS, cachedState, type ResultCache } from "./cache.ts";
import { type Executor, TaskTimeout } from "./executors/executor.ts";
import {
  failure,
  isPending,
  type RunScope,
  type TaskFailure,
  type TaskOutcome,
  TaskRunContext,
} from "./task-host.ts";
import { handleStates, RunExtras, TaskSubject, then } from "./task-run-extras.ts";
import { runToTarget } from "./task-target.ts";
import { retryDelayOf, withSoftTimeout } from "./task-timing.ts";

/** A state, now or later. Synchronous task bodies finish without a promise. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * Runs one task run (or one mapped child): target and cache checks, attempts through the
 * executor, soft timeouts, retries with delays, result persistence, and the
 * state events between. Triggers and skips are decided by the flow runner
 * before it gets here. Each attempt goes through the executor, which answers
 * with a {@link TaskOutcome} (data, never a throw): the state follows from the
 * outcome alone (`skipped`, `retryable`, a `directive`, a TaskTimeout's type).
 * Without a cache or a result backend, a synchronous task body completes with
 * no promise and three allocations (context, outcome, final state).
 *
 * A task run that loops (`Loop`), is retried by its own `Retry`, or has state
 * handlers carries a {@link RunExtras} between attempts; a task that does none
 * of these never makes one. With handlers, every state of the run goes through
 * them (task-run-extras.ts): Running, Retrying, Looped as they are reported,
 * the final state before the walk records it. A handler that answers a state
 * of another type for Running, Retrying or Looped ends the run in that state.
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
    const options = node.task.options;
    const handlers = options.onStateChange;
    if (
      handlers === undefined &&
      options.cacheFor === undefined &&
      options.cache === undefined &&
      options.target === undefined &&
      (this.gate === undefined || options.tags.length === 0)
    ) {
      // The common task run: no handlers, cache, target or gate, so straight to its first attempt.
      const startedAt = Date.now();
      this.emitRunning(node, mapIndex, startedAt);
      return this.attempt(node, mapIndex, args, 1, startedAt, undefined, undefined);
    }
    if (handlers === undefined) return this.begin(node, mapIndex, args, undefined);
    const x = new RunExtras(handlers, new TaskSubject(this.scope, node, mapIndex));
    return then(this.begin(node, mapIndex, args, x), (final) =>
      x.ended ? final : handleStates(x, final, undefined),
    );
  }

  /**
   * A state the walk gave a task with state handlers without running it (a
   * trigger's verdict, a skip, Mapped once its children finished): the state
   * after the handlers. Without handlers, `state` itself.
   */
  judged(node: Ref<unknown>, mapIndex: number | undefined, state: State): MaybePromise<State> {
    const handlers: readonly StateHandler[] | undefined = node.task.options.onStateChange;
    if (handlers === undefined) return state;
    const x = new RunExtras(handlers, new TaskSubject(this.scope, node, mapIndex));
    return handleStates(x, state, undefined);
  }

  private begin(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    x: RunExtras | undefined,
  ): MaybePromise<State> {
    const startedAt = Date.now();
    const options = node.task.options;
    if (options.cacheFor === undefined && options.cache === undefined) {
      if (options.target === undefined)
        return this.start(node, mapIndex, args, startedAt, undefined, x);
      return runToTarget(this.scope, node, mapIndex, startedAt, () =>
        this.cachedOrStart(node, mapIndex, args, startedAt, x),
      );
    }
    if (options.target !== undefined)
      return runToTarget(this.scope, node, mapIndex, startedAt, () =>
        this.cachedOrStart(node, mapIndex, args, startedAt, x),
      );
    return this.cachedOrStart(node, mapIndex, args, startedAt, x);
  }

  /** The cache check of a task with `cacheFor` or `cache`, then the run when it missed. */
  private cachedOrStart(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    startedAt: number,
    x: RunExtras | undefined,
  ): MaybePromise<State> {
    const options = node.task.options;
    if (options.cacheFor === undefined && options.cache === undefined) {
      return this.start(node, mapIndex, args, startedAt, undefined, x);
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
          cachedState(entry, cacheKey, startedAt) ??
          this.start(node, mapIndex, args, startedAt, cacheKey, x),
        (error: unknown) => {
          this.scope.logSink?.({
            level: "warn",
            message: `cache entry unreadable, running the task: ${toErrorData(error).message}`,
            time: Date.now(),
            flowRunId: this.scope.info.id,
            taskSlug: node.slug,
            ...(mapIndex === undefined ? {} : { mapIndex }),
          });
          return this.start(node, mapIndex, args, startedAt, cacheKey, x);
        },
      );
    }
    return (
      cachedState(hit, cacheKey, startedAt) ??
      this.start(node, mapIndex, args, startedAt, cacheKey, x)
    );
  }

  private start(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    startedAt: number,
    cacheKey: string | undefined,
    x: RunExtras | undefined,
  ): MaybePromise<State> {
    if (this.gate !== undefined && node.task.options.tags.length > 0)
      return this.gated(this.gate, node, mapIndex, args, cacheKey, x);
    return this.running(node, mapIndex, args, startedAt, cacheKey, x);
  }

  /** Reports Running (through the state handlers, when there are) and makes the first attempt. */
  private running(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    startedAt: number,
    cacheKey: string | undefined,
    x: RunExtras | undefined,
  ): MaybePromise<State> {
    if (x === undefined) {
      this.emitRunning(node, mapIndex, startedAt);
      return this.attempt(node, mapIndex, args, 1, startedAt, cacheKey, undefined);
    }
    const running = new State("Running", undefined, undefined, undefined, startedAt);
    return this.step(node, mapIndex, x, running, () =>
      this.attempt(node, mapIndex, args, 1, startedAt, cacheKey, x),
    );
  }

  /** `start` behind the gate: wait for slots (Pending, saying why), run, give them back. */
  private async gated(
    gate: TaskGate,
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    cacheKey: string | undefined,
    x: RunExtras | undefined,
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
      return await this.running(node, mapIndex, args, startedAt, cacheKey, x);
    } finally {
      await gate.exit(task);
    }
  }

  private emit(node: Ref<unknown>, mapIndex: number | undefined, state: State): void {
    this.reporter?.taskState?.(this.scope.info, node, mapIndex, state);
  }

  /** Reports Running; the state is made only when a reporter takes task states. */
  private emitRunning(node: Ref<unknown>, mapIndex: number | undefined, startedAt: number): void {
    const reporter = this.reporter;
    if (reporter?.taskState === undefined) return;
    reporter.taskState(
      this.scope.info,
      node,
      mapIndex,
      new State("Running", undefined, undefined, undefined, startedAt),
    );
  }

  /**
   * Reports `state` (Running, Retrying, Looped) and goes on with `next`; with
   * state handlers, reports their answer instead, and ends the run in it when
   * it is a state of another type.
   */
  private step(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    x: RunExtras,
    state: State,
    next: () => MaybePromise<State>,
  ): MaybePromise<State> {
    if (x.handlers === undefined) {
      this.emit(node, mapIndex, state);
      return next();
    }
    return then(
      handleStates(x, state, (s) => this.emit(node, mapIndex, s)),
      (answer) => {
        if (answer.type === state.type) return next();
        x.ended = true;
        return answer;
      },
    );
  }

  private attempt(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    attempt: number,
    startedAt: number,
    cacheKey: string | undefined,
    x: RunExtras | undefined,
  ): MaybePromise<State> {
    const approved = this.scope.approved?.has(node.index) === true;
    const ctx =
      x === undefined
        ? new TaskRunContext(this.scope, node, mapIndex, attempt, 1, undefined, approved)
        : new TaskRunContext(
            this.scope,
            node,
            mapIndex,
            attempt,
            x.loopCount,
            x.loopResult,
            approved,
          );
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
        this.settled(node, mapIndex, args, attempt, startedAt, cacheKey, outcome, x),
      );
    }
    if (soft && performance.now() - attemptStart > timeout) {
      const ms = Math.round(performance.now() - attemptStart);
      const error = new TaskTimeout(
        false,
        timeout,
        `the task ran synchronously for ${ms} ms and could not be interrupted in-process (use the worker-threads executor for a hard timeout)`,
      );
      return this.failed(node, mapIndex, args, attempt, startedAt, cacheKey, failure(error), x);
    }
    return this.settled(node, mapIndex, args, attempt, startedAt, cacheKey, out, x);
  }

  private settled(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    attempt: number,
    startedAt: number,
    cacheKey: string | undefined,
    outcome: TaskOutcome,
    x: RunExtras | undefined,
  ): MaybePromise<State> {
    return outcome.ok
      ? this.succeeded(node, mapIndex, outcome.value, attempt, startedAt, cacheKey)
      : this.failed(node, mapIndex, args, attempt, startedAt, cacheKey, outcome, x);
  }

  private succeeded(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    value: unknown,
    attempts: number,
    startedAt: number,
    cacheKey: string | undefined,
    message?: string,
  ): MaybePromise<State> {
    const options = node.task.options;
    const results = this.scope.results;
    // A task with a target writes its result there (toTarget), not at the backend's template.
    const checkpoint =
      results !== undefined &&
      node.task.kind === "task" &&
      options.target === undefined &&
      (options.checkpoint ?? true);
    const cached =
      cacheKey === undefined
        ? undefined
        : this.cache.set(cacheKey, value, options.cacheFor ?? CONTENT_CACHE_TTL_MS, results);
    if (!checkpoint && cached === undefined) {
      return new State("Success", message, value, undefined, startedAt, attempts);
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
      ([location]) => State.withResult("Success", message, value, startedAt, attempts, location),
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
    x: RunExtras | undefined,
  ): MaybePromise<State> {
    if (outcome.skipped === true) {
      return new State("Skipped", outcome.error.message, undefined, undefined, startedAt, attempt);
    }
    const data = outcome.error;
    if (outcome.directive !== undefined) {
      return this.directed(node, mapIndex, args, attempt, startedAt, cacheKey, outcome, x);
    }
    const options = node.task.options;
    const used = attempt - (x === undefined ? 0 : x.forced);
    if (data.retryable !== false && used <= options.retries && !this.scope.signal.aborted) {
      const delay = retryDelayOf(node, attempt, startedAt);
      if (delay instanceof State) return delay;
      const retrying = new State(
        "Retrying",
        `attempt ${attempt} of ${options.retries + 1 + (x === undefined ? 0 : x.forced)} failed: ${data.message}`,
        undefined,
        stateError(data),
        startedAt,
        attempt,
        Date.now() + delay,
      );
      return this.retry(node, mapIndex, args, attempt, startedAt, cacheKey, x, delay, retrying);
    }
    const final = stateError(data);
    if (data.type === "TaskTimeout") {
      return new State("TimedOut", data.message, undefined, final, startedAt, attempt);
    }
    return new State("Failed", data.message, undefined, final, startedAt, attempt);
  }

  /** The body threw Loop, Pause, Retry or Succeed: the state it asked for. */
  private directed(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    attempt: number,
    startedAt: number,
    cacheKey: string | undefined,
    outcome: TaskFailure,
    extras: RunExtras | undefined,
  ): MaybePromise<State> {
    const directive = outcome.directive!;
    const message = outcome.error.message;
    if (directive.kind === "succeed") {
      return this.succeeded(
        node,
        mapIndex,
        directive.result,
        attempt,
        startedAt,
        cacheKey,
        message,
      );
    }
    if (directive.kind === "pause") {
      return new State(
        "Paused",
        `${message} (approve it to run it again: --approve ${node.slug})`,
        undefined,
        undefined,
        startedAt,
        attempt,
      );
    }
    if (this.scope.signal.aborted) {
      return new State("Cancelled", "the flow run was cancelled", undefined, undefined, startedAt);
    }
    const x = extras ?? new RunExtras(undefined, undefined);
    const max = node.task.options.maxLoops;
    if (x.reruns >= max) {
      const why = `task ${node.slug}${mapIndex === undefined ? "" : `[${mapIndex}]`} threw ${directive.kind === "loop" ? "Loop" : "Retry"} after ${x.reruns} re-runs: its maxLoops limit is ${max}`;
      return new State(
        "Failed",
        why,
        undefined,
        {
          type: "LoopLimit",
          message: why,
          hint: "raise the task option maxLoops, or end the loop sooner",
        },
        startedAt,
        attempt,
      );
    }
    x.reruns++;
    if (directive.kind === "loop") {
      const looped = new State(
        "Looped",
        `iteration ${x.loopCount}: ${message}`,
        directive.result,
        undefined,
        startedAt,
        attempt,
      );
      x.loopCount++;
      x.loopResult = directive.result;
      return this.step(node, mapIndex, x, looped, () =>
        Promise.resolve().then(() =>
          this.attempt(node, mapIndex, args, attempt, startedAt, cacheKey, x),
        ),
      );
    }
    x.forced++;
    let delay = directive.delay ?? retryDelayOf(node, attempt, startedAt);
    if (delay instanceof State) return delay;
    if (!Number.isFinite(delay) || delay < 0) delay = 0;
    const retrying = new State(
      "Retrying",
      `attempt ${attempt} asked for a retry: ${message}`,
      undefined,
      undefined,
      startedAt,
      attempt,
      Date.now() + delay,
    );
    return this.retry(node, mapIndex, args, attempt, startedAt, cacheKey, x, delay, retrying);
  }

  /** Reports `retrying`, waits `delay` ms and runs the next attempt. */
  private retry(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    args: readonly unknown[],
    attempt: number,
    startedAt: number,
    cacheKey: string | undefined,
    x: RunExtras | undefined,
    delay: number,
    retrying: State,
  ): MaybePromise<State> {
    const next = () => this.attempt(node, mapIndex, args, attempt + 1, startedAt, cacheKey, x);
    const wait = (): MaybePromise<State> => {
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
    };
    if (x === undefined) {
      this.emit(node, mapIndex, retrying);
      return wait();
    }
    return this.step(node, mapIndex, x, retrying, wait);
  }
}

/** A failure's error as a state keeps it: `retryable` is for the task runner, not the state's wire form. */
function stateError(data: ErrorData): ErrorData {
  if (data.retryable === undefined) return data;
  const { retryable: _, ...rest } = data;
  return rest;
}
