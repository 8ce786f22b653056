import {
  type ExecutorKind,
  type ExecutorKindSpec,
  type ExecutorSpec,
  parseExecutorSpec,
} from "../../core/executor-spec.ts";
import type { Flow } from "../../core/flow.ts";
import type { Ref } from "../../core/graph.ts";
import type { TaskOutcome, TaskRunContext } from "../task-host.ts";

/**
 * An executor kind: its descriptor from core (type, schema, capabilities, flags)
 * and the constructor from its validated options. Adding a kind is its descriptor in
 * core/executor-spec.ts, its implementation file, and one line in create-executor.ts.
 */
export interface ExecutorKindEntry<O extends ExecutorSpec & object = ExecutorSpec & object>
  extends ExecutorKindSpec<O> {
  readonly create: (options: O) => Executor;
}

/**
 * Decides where task bodies run. The flow runner keeps at most `maxInFlight`
 * task runs waiting on an executor; the task runner calls `invoke` once per attempt.
 */
export interface Executor {
  readonly kind: ExecutorKind;
  /** Task runs that may be in flight at once. */
  readonly maxInFlight: number;
  /** True when a timeout stops the task body (thread or process boundary), not just abandons it. */
  readonly hardTimeouts: boolean;
  /** Prepares for one flow run (e.g. starts a thread pool). */
  start(flow: Flow<unknown>): Promise<void>;
  /**
   * Runs one attempt of a task body through the task host (here, in a thread or
   * on a worker): its outcome, now or as a promise. Never throws or rejects:
   * what goes wrong is a failed outcome, with `retryable: false` when another
   * attempt would fail the same way. With `hardTimeouts`, the executor enforces
   * `timeout` itself and fails the attempt with a {@link TaskTimeout}'s data.
   */
  invoke(
    node: Ref<unknown>,
    args: readonly unknown[],
    ctx: TaskRunContext,
  ): TaskOutcome | Promise<TaskOutcome>;
  /** Releases what `start` made. Idempotent. */
  close(): Promise<void>;
}

/** An attempt that ran past its timeout (its data, type "TaskTimeout", makes the state TimedOut). */
export class TaskTimeout extends Error {
  constructor(
    readonly hard: boolean,
    readonly ms: number,
    detail: string,
  ) {
    super(`${hard ? "hard" : "soft"} timeout after ${ms} ms: ${detail}`);
    this.name = "TaskTimeout";
  }
}

/** Validated executor options. */
export interface ResolvedExecutorOptions {
  readonly type: ExecutorKind;
  readonly maxConcurrency: number | undefined;
  readonly maxWorkers: number | undefined;
}

/**
 * Checks an executor spec a flow names (from code, a flag or JSON) once, against its
 * kind's schema (core/executor-spec.ts), naming what is wrong.
 */
export function resolveExecutorOptions(spec: ExecutorSpec | undefined): ResolvedExecutorOptions {
  const options = parseExecutorSpec(spec, true) as {
    type: ExecutorKind;
    maxConcurrency?: number;
    maxWorkers?: number;
  };
  return {
    type: options.type,
    maxConcurrency: options.maxConcurrency,
    maxWorkers: options.maxWorkers,
  };
}
