import { isStateA, type StateType } from "../../core/states.ts";

/**
 * Why a run may not go from `from` to `to`, or `undefined` when it may. The
 * rules, after Prefect's state tree (src/core/states.ts):
 * - nothing leaves a Finished state (Success, Failed, Cancelled and their children);
 * - Submitted only from Scheduled (or Retrying, a kind of Scheduled): that is a claim;
 * - Cancelling only from Running;
 * - from Cancelling only to a Finished state;
 * - anything else is allowed (Pending ↔ Running for retries and reschedules,
 *   Pending or Running → Finished).
 *
 * A task run's first state (it has no `from`) may be any state.
 */
export function transitionError(from: StateType | undefined, to: StateType): string | undefined {
  if (from === undefined) return undefined;
  if (isStateA(from, "Finished")) return `${from} is a finished state: nothing follows it`;
  if (to === "Submitted" && !isStateA(from, "Scheduled"))
    return "Submitted follows only Scheduled (an agent claims a scheduled run)";
  if (to === "Cancelling" && from !== "Running") return "Cancelling follows only Running";
  if (from === "Cancelling" && !isStateA(to, "Finished"))
    return "Cancelling is followed only by a finished state";
  return undefined;
}
