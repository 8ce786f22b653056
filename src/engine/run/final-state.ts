// The flow run's final state, decided once the walk has stopped.
//
// The first rule that applies wins:
//   1. the engine crashed (an executor or task runner rejected): Failed, "the engine failed";
//   2. the run was cancelled: Cancelled (cancelUnfinished has marked every
//      task and started child that had no state yet Cancelled);
//   3. tasks never settled (their promises could no longer settle): Failed, naming them;
//   4. a reference task failed (or one of its children): Failed, naming them;
//   5. strict, and any task run failed: Failed, naming the failed runs;
//   6. a reference task waits (Paused, or not reached because an upstream is
//      Paused) or any task paused: Paused;
//   7. Success, naming failures elsewhere, which never stay hidden.
// The reference tasks decide (Prefect's rule): by default those without
// downstream tasks, or the flow's referenceTasks.
import type { Ref } from "../../core/graph.ts";
import type { FlowRunInfo, Reporter } from "../../core/reporter.ts";
import { State, toErrorData } from "../../core/states.ts";
import type { MapJob } from "./map-jobs.ts";

/** What the walk knows when it stops. */
export interface WalkOutcome {
  readonly started: number;
  /** The first error that broke the walk, if any. */
  readonly crash: unknown;
  readonly cancelled: boolean;
  /** Labels of tasks abandoned because they never settled. */
  readonly unsettled: readonly string[];
  readonly nodes: readonly Ref<unknown>[];
  /** Every node's state; undefined for one never reached. */
  readonly states: readonly (State | undefined)[];
  readonly referenceNodes: readonly number[];
  /** How many tasks ended Paused. */
  readonly paused: number;
  /**
   * How many task runs (mapped children one by one) ended in a failed state,
   * counted by the walk as they ended, so that the states are searched for
   * their names only when there are some.
   */
  readonly failed: number;
  /** The run's (or else the flow's) strict option. */
  readonly strict: boolean;
}

/**
 * After a cancellation: marks Cancelled (and reports) every started child of
 * an unfinished map job and every node that has no state yet.
 */
export function cancelUnfinished(
  nodes: readonly Ref<unknown>[],
  states: (State | undefined)[],
  mapJobs: readonly MapJob[],
  reporter: Reporter | undefined,
  info: FlowRunInfo,
): void {
  for (const job of mapJobs) {
    if (states[job.index] !== undefined) continue;
    const node = nodes[job.index]!;
    for (let c = 0; c < job.next; c++) {
      if (job.childStates[c] !== undefined) continue;
      const state = new State("Cancelled", "the flow run was cancelled");
      job.childStates[c] = state;
      reporter?.taskState?.(info, node, c, state);
    }
  }
  for (let i = 0; i < states.length; i++) {
    if (states[i] !== undefined) continue;
    const state = new State("Cancelled", "the flow run was cancelled");
    states[i] = state;
    reporter?.taskState?.(info, nodes[i]!, undefined, state);
  }
}

/** The flow run's final state (see the rules at the top of this file). */
export function decideFinalState(run: WalkOutcome): State {
  const started = run.started;
  if (run.crash !== undefined) {
    const error = toErrorData(run.crash);
    return new State("Failed", `the engine failed: ${error.message}`, undefined, error, started);
  }
  if (run.cancelled) {
    return new State("Cancelled", "the flow run was cancelled", undefined, undefined, started);
  }
  if (run.unsettled.length > 0) {
    const n = run.unsettled.length;
    const shown = run.unsettled.slice(0, 5).join(", ") + (n > 5 ? ", …" : "");
    return new State(
      "Failed",
      `${n} ${n === 1 ? "task" : "tasks"} never settled: ${shown}`,
      undefined,
      undefined,
      started,
    );
  }
  const failedRefs: string[] = [];
  let waiting = 0;
  const refs = run.referenceNodes;
  for (const r of refs) {
    const state = run.states[r];
    if (state === undefined || state.type === "Paused") waiting++;
    else if (state.isFailed() || state.children?.some((c) => c.isFailed()))
      failedRefs.push(run.nodes[r]!.slug);
  }
  if (failedRefs.length > 0) {
    const shown = failedRefs.slice(0, 5).join(", ") + (failedRefs.length > 5 ? ", …" : "");
    return new State(
      "Failed",
      `${failedRefs.length} of ${refs.length} reference tasks failed: ${shown}`,
      undefined,
      undefined,
      started,
    );
  }
  const failed = run.failed === 0 ? NONE_FAILED : failedTasks(run.nodes, run.states);
  if (failed.count > 0 && run.strict) {
    return new State(
      "Failed",
      `strict: ${failed.count} ${failed.count === 1 ? "task" : "tasks"} failed: ${failed.shown} (the reference tasks succeeded)`,
      undefined,
      undefined,
      started,
    );
  }
  if (waiting > 0 || run.paused > 0) {
    return new State(
      "Paused",
      `${run.paused} task(s) wait for approval (manual_only, or Pause)`,
      undefined,
      undefined,
      started,
    );
  }
  return new State(
    "Success",
    failed.count === 0
      ? `all ${refs.length} reference tasks succeeded`
      : `all ${refs.length} reference tasks succeeded, but ${failed.count} other ${failed.count === 1 ? "task" : "tasks"} failed: ${failed.shown}`,
    undefined,
    undefined,
    started,
  );
}

const NONE_FAILED = { count: 0, shown: "" } as const;

/** How many task runs (mapped children one by one) ended Failed, and the first few of them. */
function failedTasks(
  nodes: readonly Ref<unknown>[],
  states: readonly (State | undefined)[],
): { count: number; shown: string } {
  const names: string[] = [];
  let count = 0;
  for (let i = 0; i < states.length; i++) {
    const state = states[i];
    if (state === undefined) continue;
    if (state.children === undefined) {
      if (state.isFailed() && count++ < 5) names.push(nodes[i]!.slug);
      continue;
    }
    for (let c = 0; c < state.children.length; c++) {
      if (state.children[c]!.isFailed() && count++ < 5) names.push(`${nodes[i]!.slug}[${c}]`);
    }
  }
  return { count, shown: names.join(", ") + (count > 5 ? ", …" : "") };
}
