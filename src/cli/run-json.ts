import { isPlainJson } from "../core/json.ts";
import type { State } from "../core/states.ts";
import type { FlowRunDetail, FlowRunRecord, TaskRunRecord } from "../serialization/api-schemas.ts";
import type { SerializedState } from "../serialization/schemas.ts";
import { type FailedTask, failedTaskRunsOf } from "./run-summary.ts";

/** One task of a run's JSON: its slug (and map index), then its state's fields. */
export interface RunTaskJson {
  readonly slug: string;
  /** A mapped child's index (remote runs list children; local runs their parents only). */
  readonly mapIndex?: number;
  readonly type: string;
  readonly message?: string;
  readonly timestamp: string;
  readonly startedAt?: string;
  /** Absent for parameters (no attempt is made) and tasks that never started. */
  readonly attempts?: number;
  readonly durationMs?: number;
  readonly [field: string]: unknown;
}

/**
 * The one JSON document of a run, the same for `weft run --json`, `weft run
 * --remote --wait --json` and `weft runs inspect --json`: every field below
 * is there in each (null when unknown). A remote run's document also carries
 * the API's own fields of the run (name, flowVersion, history, taskRuns, …).
 */
export interface RunJson {
  readonly id: string;
  /** The same as `id` (the name `weft run --json` first printed it under). */
  readonly flowRunId: string;
  readonly flow: string;
  /** The run's state: type, message, timestamp, startedAt, … */
  readonly state: Readonly<Record<string, unknown>> & { readonly type: string };
  /** The state's message (e.g. why it failed), or null. */
  readonly message: string | null;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly startedAt: string | null;
  readonly endedAt: string | null;
  readonly durationMs: number | null;
  readonly tasks: readonly RunTaskJson[];
  /**
   * The task runs that ended Failed, TriggerFailed or TimedOut (mapped children
   * one by one): a run that succeeds by its reference tasks still lists them.
   */
  readonly failedTasks: readonly FailedTask[];
  /** What the flow's builder returned, resolved, when this process ran it and it is JSON. */
  readonly outputs?: unknown;
  readonly [field: string]: unknown;
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

/** The JSON of a run this process ran (`weft run`, with or without --environment). */
export function localRunJson(run: {
  readonly id: string;
  readonly flow: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  readonly state: State;
  readonly taskStates: ReadonlyMap<string, State>;
  readonly failedTasks: readonly FailedTask[];
  /** A function, since resolving them throws when a task they name has no result. */
  readonly outputs?: () => unknown;
}): RunJson {
  const { state } = run;
  const tasks: RunTaskJson[] = [];
  for (const [slug, s] of run.taskStates) {
    tasks.push({
      slug,
      ...(s.toJSON() as { type: string; timestamp: string }),
      ...(s.durationMs === undefined || !s.isFinished() ? {} : { durationMs: s.durationMs }),
    });
  }
  const outputs = jsonOutputs(run.outputs);
  const finished = state.isFinished();
  return {
    id: run.id,
    flowRunId: run.id,
    flow: run.flow,
    state: state.toJSON() as RunJson["state"],
    message: state.message ?? null,
    parameters: run.parameters,
    startedAt: iso(state.startedAt),
    endedAt: finished ? iso(state.timestamp) : null,
    durationMs: finished ? (state.durationMs ?? null) : null,
    tasks,
    failedTasks: run.failedTasks,
    ...(outputs === undefined ? {} : { outputs: outputs.value }),
  };
}

/** The JSON of a run on the server: the unified fields, then the API's own. */
export function remoteRunJson(run: FlowRunRecord | FlowRunDetail): RunJson {
  const taskRuns: readonly TaskRunRecord[] = "taskRuns" in run ? run.taskRuns : [];
  const startedAt = run.startTime ?? run.state.startedAt ?? null;
  const endedAt = run.endTime ?? null;
  const { result, ...state } = plainState(run.state);
  return {
    id: run.id,
    flowRunId: run.id,
    flow: run.flowName,
    state: state as RunJson["state"],
    message: run.state.message ?? null,
    parameters: run.parameters,
    startedAt,
    endedAt,
    durationMs: between(startedAt ?? undefined, endedAt ?? undefined) ?? null,
    tasks: taskRuns.map((t) => {
      const { result: _, ...s } = plainState(t.state);
      const durationMs = between(t.startTime ?? t.state.startedAt, t.endTime);
      return {
        slug: t.slug,
        ...(t.mapIndex === undefined ? {} : { mapIndex: t.mapIndex }),
        ...(s as { type: string; timestamp: string }),
        ...(t.attempts > 0 ? { attempts: t.attempts } : {}),
        ...(durationMs === undefined ? {} : { durationMs }),
      };
    }),
    failedTasks: failedTaskRunsOf(taskRuns),
    ...(result === undefined ? {} : { outputs: result }),
    // The API's fields (taskRuns, history, startTime, …), for scripts written against them.
    ...withoutUnified(run),
  };
}

/** Milliseconds from `start` to `end` (ISO times), when both are known. */
export function between(start: string | undefined, end: string | undefined): number | undefined {
  if (start === undefined || end === undefined) return undefined;
  const ms = Date.parse(end) - Date.parse(start);
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined;
}

/** A serialized state as `State.toJSON` shows one (no schema version). */
function plainState(state: SerializedState): Record<string, unknown> {
  const { schemaVersion: _, ...rest } = state;
  return rest;
}

function withoutUnified(run: FlowRunRecord | FlowRunDetail): Record<string, unknown> {
  const { id: _id, parameters: _p, state: _s, ...rest } = run;
  return rest;
}

function jsonOutputs(outputs: (() => unknown) | undefined): { value: unknown } | undefined {
  if (outputs === undefined) return undefined;
  try {
    const value = outputs();
    // Only what JSON carries as it is: a Map or a Date would come out as something else.
    return value !== undefined && isPlainJson(value) ? { value } : undefined;
  } catch {
    return undefined;
  }
}
