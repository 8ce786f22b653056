// The messages between the worker-threads executor and its threads. Task runs
// travel in batches: one message carries many invocations as parallel arrays
// (cheap to clone), and one message carries many outcomes back. A thread learns
// the run (`run`) and the tasks it may be asked to run (`defs`) once, before the
// first batch that needs them; a call names its task by its index in `defs`.
import type { LogRecord } from "../../core/reporter.ts";
import type { TaskFailure } from "../task-host.ts";

/**
 * A task a thread may run: found by name among the tasks its flow's module defines
 * at top level when `text` (the function's source) matches and `build` is false,
 * else by `slug` (any node of that task) in the flow's graph, which the thread then builds.
 */
export interface TaskDef {
  readonly name: string;
  readonly slug: string;
  /** `String(fn)`: a name match with another function's source is not this task. */
  readonly text: string;
  /** The task is not one function defined outside a flow builder: find it in the graph. */
  readonly build: boolean;
  /** The task has a timeout: the thread says when each call starts (`started`). */
  readonly timed: boolean;
}

/** What a call carries besides its arguments, when it is not a plain first iteration. */
export interface CallExtra {
  /** The loop iteration, after the task threw Loop. */
  readonly loop?: { readonly count: number; readonly result: unknown };
  /** The task was approved for this run (`context().approved`). */
  readonly approved?: true;
}

/** Messages from the executor to a worker thread. */
export type WorkerRequest =
  /** The flow whose tasks this thread runs (sent first: the thread imports its module at once). */
  | { readonly type: "load"; readonly moduleUrl: string; readonly flowName: string }
  /** The flow run this thread works for (sent before its first batch). */
  | {
      readonly type: "run";
      readonly flowRunId: string;
      readonly parameters: Readonly<Record<string, unknown>>;
    }
  /** Tasks `from`, `from + 1`, … of the run (sent before the first batch that names them). */
  | { readonly type: "defs"; readonly from: number; readonly defs: readonly TaskDef[] }
  /**
   * Calls to run one after another, in this order. Call k is described by
   * `calls[CALL_FIELDS * k + …]` (see {@link CALL_FIELD}); its arguments are the next
   * `argc` items of `args`, which holds every call's arguments end to end (numbers
   * in a typed array and one flat list clone much faster than an object per call).
   */
  | {
      readonly type: "batch";
      readonly calls: Int32Array;
      readonly args: readonly unknown[];
      /** Per call, or absent when no call of the batch has any. */
      readonly extras: readonly (CallExtra | undefined)[] | undefined;
    };

/** The fields of one call in a batch's `calls`, in order. */
export const CALL_FIELD = {
  /** The call's id (positive). */
  id: 0,
  /** Its task's index in `defs`. */
  task: 1,
  /** The ordinal of its node (the slug is `${name}-${ordinal}`). */
  ordinal: 2,
  /** The mapped child's index, or -1. */
  mapIndex: 3,
  attempt: 4,
  /** How many of `args` are its arguments. */
  argc: 5,
} as const;
/** Int32 slots per call in a batch's `calls`. */
export const CALL_FIELDS = 6;

/** Messages from a worker thread to the executor. */
export type WorkerReply =
  /** Call `id`, of a timed task, starts now: its hard timeout counts from here. */
  | { readonly type: "started"; readonly id: number }
  | { readonly type: "log"; readonly record: LogRecord }
  /**
   * The outcomes of calls `ids` (same order): call k succeeded with `values[k]`,
   * unless k is in `failedAt`, whose failures (as the task host made them) are in
   * `failures` (plain values clone faster than an outcome object per call).
   */
  | {
      readonly type: "done";
      readonly ids: Int32Array;
      readonly values: readonly unknown[];
      readonly failedAt: readonly number[] | undefined;
      readonly failures: readonly TaskFailure[] | undefined;
    };
