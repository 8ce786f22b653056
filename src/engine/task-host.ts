// The task host: the one place where a task body runs, wherever that is. The
// in-process executors call it in the flow-run thread, a worker thread calls it
// for the worker-threads executor, and `weft worker` calls it for the
// distributed executor; each gives the body the same `TaskRunContext` and gets
// back a `TaskOutcome`, plain data that crosses a thread or a queue as it is.
//
// Contract: `hostTask` never throws and never rejects. Whatever the body threw
// becomes `ErrorData` here (through `toErrorData`, the one conversion), with the
// signals a task can throw folded into data: `Skip` gives `skipped: true`,
// `Fail` gives `retryable: false`, and `Loop`, `Pause`, `Retry`, `Succeed` give
// a `directive` (with the loop's or the success's result, which must clone like
// any result). The task runner decides states from the outcome alone, so
// nothing rebuilds an Error from data to throw it again.
//
// Hot path: a synchronous body costs the context and one outcome object, with
// no promise and no closure; an async body costs one promise (its `.then`).
import type { LoopContext, TaskContext } from "../core/context.ts";
import { callInContext } from "../core/context.ts";
import type { Ref } from "../core/graph.ts";
import {
  createRunLogger,
  type FlowRunInfo,
  type Logger,
  type LogRecord,
} from "../core/reporter.ts";
import type { ResultBackend } from "../core/results.ts";
import { signalOf } from "../core/signals.ts";
import { type ErrorData, toErrorData } from "../core/states.ts";

/** How one attempt of a task body ended: its value, or its error as data. */
export type TaskOutcome = TaskSuccess | TaskFailure;

/** The body returned (or resolved to) `value`. */
export interface TaskSuccess {
  readonly ok: true;
  readonly value: unknown;
}

/**
 * The body threw (or rejected), or the attempt could not run. `error.retryable`
 * is false when retrying cannot help; `skipped` when the body threw `Skip`.
 */
export interface TaskFailure {
  readonly ok: false;
  readonly error: ErrorData;
  readonly skipped?: true;
  /** The body threw `Loop`, `Pause`, `Retry` or `Succeed`: what it asked for. */
  readonly directive?: TaskDirective;
}

/**
 * What a signal other than Skip and Fail asks of the task runner, as plain data:
 * run again with an interim result (`loop`), wait for approval (`pause`), retry
 * now or after `delay` ms (`retry`), end Success with `result` (`succeed`). The
 * error's message is the signal's message.
 */
export type TaskDirective =
  | { readonly kind: "loop"; readonly result: unknown }
  | { readonly kind: "pause" }
  | { readonly kind: "retry"; readonly delay: number | undefined }
  | { readonly kind: "succeed"; readonly result: unknown };

/** The part of a flow run a task body can see (a worker knows no more than this). */
export type TaskRunInfo = Pick<FlowRunInfo, "id" | "flowName" | "parameters">;

/** What every task attempt of one flow run (or of one job on a worker) shares. */
export interface TaskScope {
  readonly info: TaskRunInfo;
  /** Aborts when the flow run is cancelled (on a worker: when the job is). */
  readonly signal: AbortSignal;
  /** Where task logs go (the reporter, or the reply to the flow run), if anywhere. */
  readonly logSink: ((record: LogRecord) => void) | undefined;
  /** Where results are persisted, if anywhere. */
  readonly results: ResultBackend | undefined;
  /** Variables the run's environment gave it (RunOptions.env); none on a worker. */
  readonly env?: Readonly<Record<string, string>> | undefined;
}

const NO_VARIABLES: Readonly<Record<string, string>> = Object.freeze({});

/** What every task run of one flow run shares, in the flow-run process. */
export interface RunScope extends TaskScope {
  readonly info: FlowRunInfo;
  /** Indices of the nodes approved for this run (`approve`), when there are any. */
  readonly approved?: ReadonlySet<number> | undefined;
}

/** The node a context describes: its slug and its task's name. */
type HostedNode = Pick<Ref<unknown>, "slug"> & { readonly task: { readonly name: string } };

/** What a context makes on first use: its signal and logger, and an abort that came first. */
interface ContextExtras {
  controller: AbortController | undefined;
  signal: AbortSignal | undefined;
  logger: Logger | undefined;
  aborted: boolean;
  abortReason: unknown;
}

/**
 * The context of one attempt of one task run. The abort signal and logger are
 * made on first use, in one side object (`extras`), so a task that never
 * touches them costs one small object of eight fields.
 */
export class TaskRunContext implements TaskContext {
  private extras: ContextExtras | undefined = undefined;

  constructor(
    readonly scope: TaskScope,
    readonly node: HostedNode,
    readonly mapIndex: number | undefined,
    readonly attempt: number,
    /** The loop iteration (1 unless the task threw Loop). */
    readonly loopCount = 1,
    /** What the previous iteration threw Loop with. */
    readonly loopResult: unknown = undefined,
    readonly approved = false,
  ) {}

  /** Made on use: most tasks never loop and never ask. */
  get loop(): LoopContext {
    return { count: this.loopCount, result: this.loopResult };
  }

  get flowRunId(): string {
    return this.scope.info.id;
  }
  get flowName(): string {
    return this.scope.info.flowName;
  }
  get taskSlug(): string {
    return this.node.slug;
  }
  get taskName(): string {
    return this.node.task.name;
  }
  get parameters(): Readonly<Record<string, unknown>> {
    return this.scope.info.parameters;
  }
  get env(): Readonly<Record<string, string>> {
    return this.scope.env ?? NO_VARIABLES;
  }
  get logger(): Logger {
    const extras = this.made();
    extras.logger ??= createRunLogger(
      this.scope.logSink,
      this.scope.info.id,
      this.node.slug,
      this.mapIndex,
    );
    return extras.logger;
  }
  get signal(): AbortSignal {
    const extras = this.made();
    if (extras.signal === undefined) {
      extras.controller = new AbortController();
      if (extras.aborted) extras.controller.abort(extras.abortReason);
      extras.signal = AbortSignal.any([extras.controller.signal, this.scope.signal]);
    }
    return extras.signal;
  }

  /** Fires this attempt's signal (timeout). */
  abort(reason: unknown): void {
    const extras = this.made();
    extras.aborted = true;
    extras.abortReason = reason;
    extras.controller?.abort(reason);
  }

  private made(): ContextExtras {
    this.extras ??= {
      controller: undefined,
      signal: undefined,
      logger: undefined,
      aborted: false,
      abortReason: undefined,
    };
    return this.extras;
  }
}

/**
 * Runs one attempt of a task body with `ctx` as its context: the outcome now
 * for a synchronous body, a promise of it for an async one. Never throws.
 */
export function hostTask(
  ctx: TaskRunContext,
  fn: (...args: never[]) => unknown,
  args: readonly unknown[],
): TaskOutcome | Promise<TaskOutcome> {
  let out: unknown;
  try {
    out = callInContext(ctx, fn, args);
  } catch (error) {
    return failure(error);
  }
  if (isThenable(out)) return Promise.resolve(out).then(success, failure);
  return { ok: true, value: out };
}

/** The outcome of a body that returned `value`. */
export function success(value: unknown): TaskSuccess {
  return { ok: true, value };
}

/** The outcome of an attempt that threw `thrown`: its error as data, signals folded in. */
export function failure(thrown: unknown): TaskFailure {
  const signal = signalOf(thrown);
  const error = toErrorData(thrown);
  switch (signal) {
    case undefined:
      return { ok: false, error };
    case "skip":
      return { ok: false, error, skipped: true };
    case "fail":
      return { ok: false, error: { ...error, retryable: false } };
    case "loop":
    case "succeed":
      return {
        ok: false,
        error,
        directive: { kind: signal, result: (thrown as { result?: unknown }).result },
      };
    case "pause":
      return { ok: false, error, directive: { kind: "pause" } };
    case "retry": {
      const delay = (thrown as { delay?: unknown }).delay;
      return {
        ok: false,
        error,
        directive: { kind: "retry", delay: typeof delay === "number" ? delay : undefined },
      };
    }
  }
}

/** The outcome of an attempt that another attempt could not fix (bad options, inputs that cannot travel). */
export function finalFailure(thrown: unknown): TaskFailure {
  return { ok: false, error: { ...toErrorData(thrown), retryable: false } };
}

/** True for an outcome still to come (a promise), false for one that is here. */
export function isPending(
  outcome: TaskOutcome | PromiseLike<TaskOutcome>,
): outcome is PromiseLike<TaskOutcome> {
  return (outcome as { ok?: unknown }).ok === undefined;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}
