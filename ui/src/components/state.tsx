// How a state looks everywhere in the UI: one colour family per kind of state (done well,
// failed, running, waiting, skipped or cancelled), so that a graph node, a timeline bar, a
// table row and a badge of the same state agree.
import type { StateType } from "../../../src/core/states.ts";
import "./state.css";

/** The colour families; each is a CSS class `state-<tone>` (components/state.css). */
export const STATE_TONES = ["ok", "fail", "run", "wait", "skip"] as const;
export type StateTone = (typeof STATE_TONES)[number];

const TONE: Readonly<Record<StateType, StateTone>> = {
  Pending: "wait",
  Scheduled: "wait",
  Submitted: "wait",
  Retrying: "wait",
  Paused: "wait",
  Running: "run",
  Cancelling: "run",
  Looped: "run",
  Finished: "ok",
  Success: "ok",
  Cached: "ok",
  Mapped: "ok",
  Skipped: "skip",
  Failed: "fail",
  TriggerFailed: "fail",
  TimedOut: "fail",
  Cancelled: "skip",
};

/** The colour family of a state type (an unknown type from a newer server: "wait"). */
export function stateTone(type: string): StateTone {
  return TONE[type as StateType] ?? "wait";
}

/** A state's name as a small coloured badge. */
export function StateBadge({ type, message }: { type: string; message?: string | undefined }) {
  return (
    <span className={`state-badge state-${stateTone(type)}`} data-state={type} title={message}>
      {type}
    </span>
  );
}
