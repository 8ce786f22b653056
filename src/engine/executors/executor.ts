import { WeftError } from "../../core/errors.ts";
import { EXECUTOR_KINDS, type ExecutorKind, type ExecutorSpec } from "../../core/executor-spec.ts";
import type { Flow } from "../../core/flow.ts";
import type { Ref } from "../../core/graph.ts";
import type { TaskRunContext } from "../task-context.ts";

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
   * Runs one attempt of a task body: returns its value, or a promise of it;
   * throws (or rejects) with what the task threw. With `hardTimeouts`, the
   * executor enforces `timeout` itself and rejects with a {@link TaskTimeout}.
   */
  invoke(node: Ref<unknown>, args: readonly unknown[], ctx: TaskRunContext): unknown;
  /** Releases what `start` made. Idempotent. */
  close(): Promise<void>;
}

/** Thrown into the task runner when an attempt ran past its timeout. */
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
