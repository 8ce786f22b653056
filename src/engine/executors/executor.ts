import { WeftError } from "../../core/errors.ts";
import { EXECUTOR_KINDS, type ExecutorKind, type ExecutorSpec } from "../../core/executor-spec.ts";
import type { Flow } from "../../core/flow.ts";
import type { Ref } from "../../core/graph.ts";
import type { TaskOutcome, TaskRunContext } from "../task-host.ts";

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

/** Checks an executor spec (from code, a flag or JSON) once, naming what is wrong. */
export function resolveExecutorOptions(spec: ExecutorSpec | undefined): ResolvedExecutorOptions {
  const raw: Record<string, unknown> =
    spec === undefined
      ? { type: "concurrent" }
      : typeof spec === "string"
        ? { type: spec }
        : { ...spec };
  const type = raw.type;
  if (typeof type !== "string" || !(EXECUTOR_KINDS as readonly string[]).includes(type)) {
    throw new WeftError("INVALID_EXECUTOR", `unknown executor ${JSON.stringify(type)}`, {
      hint: `known executors: ${EXECUTOR_KINDS.join(", ")}`,
    });
  }
  const positiveInt = (key: string) => {
    const v = raw[key];
    if (v === undefined) return undefined;
    if (!Number.isInteger(v) || (v as number) < 1) {
      throw new WeftError(
        "INVALID_EXECUTOR",
        `executor ${type}: ${key} must be a positive integer, got ${JSON.stringify(v)}`,
      );
    }
    return v as number;
  };
  const allowed =
    type === "serial"
      ? ["type"]
      : type === "concurrent"
        ? ["type", "maxConcurrency"]
        : ["type", "maxConcurrency", "maxWorkers"];
  for (const key of Object.keys(raw)) {
    if (!allowed.includes(key)) {
      throw new WeftError("INVALID_EXECUTOR", `executor ${type} has no option "${key}"`, {
        hint: `its options: ${allowed.slice(1).join(", ") || "none"}`,
      });
    }
  }
  return {
    type: type as ExecutorKind,
    maxConcurrency: positiveInt("maxConcurrency"),
    maxWorkers: positiveInt("maxWorkers"),
  };
}
