// Judging a task by its upstreams, before it runs.
//
// A task's upstream states are tallied into an UpstreamSummary (total,
// successful, failed, skipped; a mapped upstream counts child by child, and
// Skipped counts as successful too) and the task's trigger is evaluated on that
// tally (core/triggers.ts), or the trigger function is called with it, here in
// the walk's thread (no function crosses to a worker). The verdict is a state
// the task ends in without running (Skipped, TriggerFailed, Paused for
// manual_only), or undefined: run it.
// These run once per task (once per child of a mapped task), so they
// write into a summary the caller owns and allocate only the verdict state. A
// mapped upstream whose children the walk already counted (its map job's
// tally) adds that tally instead of counting its children again.
import type { Ref } from "../../core/graph.ts";
import { signalOf } from "../../core/signals.ts";
import { State, toErrorData } from "../../core/states.ts";
import {
  describeTriggerFailure,
  evaluateTrigger,
  type TriggerFunction,
  triggerLabel,
  type UpstreamSummary,
} from "../../core/triggers.ts";

/** Counts one finished upstream state into `s`. */
export function countState(s: UpstreamSummary, state: State): void {
  s.total++;
  if (state.type === "Success") s.successful++;
  else if (state.isSuccessful()) {
    s.successful++;
    if (state.type === "Skipped") s.skipped++;
  } else if (state.isFailed()) {
    s.failed++;
  }
}

/** Children states already counted: a finished map job's (map-jobs.ts). */
export interface CountedChildren {
  readonly childStates: readonly State[];
  readonly tally: UpstreamSummary;
}

/**
 * Fills `s` from the states of `upstream` (all finished), leaving out those in
 * `skip`; a mapped upstream counts child by child, or adds its tally from
 * `counted` (by node index) when that tally is of the very children it holds.
 */
export function summarize(
  s: UpstreamSummary,
  states: readonly (State | undefined)[],
  upstream: readonly number[],
  skip: ReadonlySet<number> | undefined,
  counted?: ReadonlyMap<number, CountedChildren>,
): void {
  s.total = 0;
  s.successful = 0;
  s.failed = 0;
  s.skipped = 0;
  for (let k = 0; k < upstream.length; k++) {
    const u = upstream[k]!;
    if (skip?.has(u)) continue;
    const state = states[u]!;
    const children = state.children;
    if (children === undefined) {
      countState(s, state);
      continue;
    }
    const known = counted?.get(u);
    if (known !== undefined && known.childStates === children) {
      s.total += known.tally.total;
      s.successful += known.tally.successful;
      s.failed += known.tally.failed;
      s.skipped += known.tally.skipped;
    } else for (let c = 0; c < children.length; c++) countState(s, children[c]!);
  }
}

/**
 * The state node `node` ends in without running (a skip, a trigger that
 * failed, or a pause for approval), or undefined to run it. `approved` holds
 * the indices of manual_only tasks approved for this run.
 */
export function judge(
  node: Ref<unknown>,
  up: UpstreamSummary,
  approved: ReadonlySet<number>,
): State | undefined {
  const trigger = node.task.options.trigger;
  const skipped = judgeSkip(node, up);
  if (skipped !== undefined) return skipped;
  if (typeof trigger === "function") return askTriggerFunction(trigger, up);
  const verdict = evaluateTrigger(trigger, up);
  if (verdict === "run") return undefined;
  if (verdict === "fail") return new State("TriggerFailed", describeTriggerFailure(trigger, up));
  if (verdict === "skip")
    return new State("Skipped", `trigger ${trigger}: every upstream task was skipped`);
  if (approved.has(node.index)) return undefined;
  return new State(
    "Paused",
    `manual_only trigger: waiting for approval (run again with --approve ${node.slug})`,
  );
}

/**
 * A trigger function's verdict: true runs the task, false fails it naming the
 * function, a thrown `Skip` skips it, any other throw fails it with the message.
 */
function askTriggerFunction(trigger: TriggerFunction, up: UpstreamSummary): State | undefined {
  let answer: unknown;
  try {
    answer = trigger(up);
  } catch (thrown) {
    const error = toErrorData(thrown);
    const signal = signalOf(thrown);
    if (signal === "skip") return new State("Skipped", error.message);
    const message =
      signal === "fail"
        ? error.message
        : `trigger ${triggerLabel(trigger)} threw: ${error.message}`;
    return new State("TriggerFailed", message, undefined, error);
  }
  if (answer === true) return undefined;
  if (answer === false) return new State("TriggerFailed", describeTriggerFailure(trigger, up));
  const got = answer instanceof Promise ? "a promise" : typeof answer;
  const message = `trigger ${triggerLabel(trigger)} returned ${got}, not a boolean (a trigger answers synchronously with true or false)`;
  return new State("TriggerFailed", message, undefined, { type: "TriggerError", message });
}

/** Skipped when an upstream in `up` was skipped and the task skips with its upstream, else undefined. */
export function judgeSkip(node: Ref<unknown>, up: UpstreamSummary): State | undefined {
  if (up.skipped > 0 && node.task.options.skipOnUpstreamSkip)
    return new State("Skipped", "skipped because an upstream task was skipped");
  return undefined;
}
