import { WeftError } from "./errors.ts";

/** The named triggers a task may use to decide, from its upstream states, whether it runs. */
export const TRIGGERS = [
  "all_successful",
  "all_failed",
  "any_successful",
  "any_failed",
  "all_finished",
  "manual_only",
  "always_run",
  "not_all_skipped",
] as const;

/** One of {@link TRIGGERS}. */
export type TriggerName = (typeof TRIGGERS)[number];

/**
 * A trigger written as code: true runs the task, false ends it TriggerFailed.
 * Throwing `Skip` ends it Skipped; throwing `Fail` (or any error) ends it
 * TriggerFailed with that message. It runs in the flow-run process (never in a
 * worker), once per task and once per mapped child, and must answer synchronously.
 * @example
 * const enough: TriggerFunction = (up) => up.successful >= 2;
 */
export type TriggerFunction = (upstream: UpstreamSummary) => boolean;

/** What a task's `trigger` option accepts: a name, or a function ({@link someFailed} makes one). */
export type Trigger = TriggerName | TriggerFunction;

/** What a named trigger decided. */
export type TriggerVerdict = "run" | "fail" | "pause" | "skip";

/**
 * Counts of a task's finished upstream states (a mapped upstream counts each
 * child; a mapped task's child counts child i of each mapped upstream).
 * Triggers work from counts, so a fan-in of a million upstream tasks is judged
 * in one pass with no allocation. `successful` includes `skipped`.
 */
export interface UpstreamSummary {
  total: number;
  successful: number;
  failed: number;
  skipped: number;
}

/**
 * Applies a named trigger to a task's upstream. A task with no upstream runs
 * (except under `manual_only`, which waits for approval). Skipped counts as successful.
 */
export function evaluateTrigger(trigger: TriggerName, up: UpstreamSummary): TriggerVerdict {
  if (trigger === "manual_only") return "pause";
  if (up.total === 0) return "run";
  switch (trigger) {
    case "all_successful":
      return up.successful === up.total ? "run" : "fail";
    case "all_failed":
      return up.failed === up.total ? "run" : "fail";
    case "any_successful":
      return up.successful > 0 ? "run" : "fail";
    case "any_failed":
      return up.failed > 0 ? "run" : "fail";
    case "all_finished":
    case "always_run":
      return "run";
    case "not_all_skipped":
      if (up.skipped === up.total) return "skip";
      return up.successful === up.total ? "run" : "fail";
  }
}

/** How a trigger is shown: its name, a function's name, or `some_failed(atLeast: 1)`. */
export function triggerLabel(trigger: Trigger): string {
  if (typeof trigger === "string") return trigger;
  return (trigger.name || "anonymous function").slice(0, 200);
}

/** A human sentence for a trigger that did not pass, for the TriggerFailed message. */
export function describeTriggerFailure(trigger: Trigger, up: UpstreamSummary): string {
  const counts = `${up.successful} of ${up.total} upstream succeeded, ${up.failed} failed`;
  if (typeof trigger === "string") return `trigger ${trigger} not met: ${counts}`;
  return `trigger ${triggerLabel(trigger)} returned false: ${counts}`;
}

/**
 * Bounds on a count of upstream tasks for {@link someFailed} and
 * {@link someSuccessful}. A bound below 1 (other than 0) is a fraction of the
 * upstream tasks (`0.5`: half of them), else a number of tasks.
 */
export interface CountBounds {
  /** The fewest that pass. @default no lower bound */
  atLeast?: number;
  /** The most that pass. @default no upper bound */
  atMost?: number;
}

/**
 * A trigger that runs the task when the number of failed upstream tasks lies
 * within the bounds (Prefect's `some_failed`); a task with no upstream runs.
 * @example
 * const alert = task("alert", notify, { trigger: someFailed({ atLeast: 1, atMost: 3 }) });
 */
export function someFailed(bounds: CountBounds): TriggerFunction {
  return countTrigger("some_failed", "someFailed", bounds, (up) => up.failed);
}

/**
 * A trigger that runs the task when the number of successful upstream tasks
 * (skipped ones count) lies within the bounds (Prefect's `some_successful`);
 * a task with no upstream runs.
 * @example
 * const report = task("report", summarize, { trigger: someSuccessful({ atLeast: 0.8 }) });
 */
export function someSuccessful(bounds: CountBounds): TriggerFunction {
  return countTrigger("some_successful", "someSuccessful", bounds, (up) => up.successful);
}

function countTrigger(
  name: string,
  fnName: string,
  bounds: CountBounds,
  count: (up: UpstreamSummary) => number,
): TriggerFunction {
  const { atLeast, atMost } = checkBounds(fnName, bounds);
  const shown = [
    ...(atLeast === undefined ? [] : [`atLeast: ${atLeast}`]),
    ...(atMost === undefined ? [] : [`atMost: ${atMost}`]),
  ].join(", ");
  const trigger: TriggerFunction = (up) => {
    if (up.total === 0) return true;
    const n = count(up);
    const scale = (bound: number) => (bound > 0 && bound < 1 ? bound * up.total : bound);
    return (
      (atLeast === undefined || n >= scale(atLeast)) && (atMost === undefined || n <= scale(atMost))
    );
  };
  Object.defineProperty(trigger, "name", { value: `${name}(${shown})` });
  return trigger;
}

function checkBounds(
  fnName: string,
  bounds: CountBounds,
): { atLeast: number | undefined; atMost: number | undefined } {
  const given = (bounds ?? {}) as Record<string, unknown>;
  for (const key of Object.keys(given)) {
    if (key !== "atLeast" && key !== "atMost") {
      throw new WeftError("INVALID_TASK_OPTIONS", `${fnName}(): unknown bound "${key}"`, {
        hint: "give atLeast, atMost or both",
      });
    }
    const value = given[key];
    if (value !== undefined && (typeof value !== "number" || !(value >= 0) || value === Infinity)) {
      throw new WeftError(
        "INVALID_TASK_OPTIONS",
        `${fnName}(): ${key} must be a number of tasks (≥ 1) or a fraction (between 0 and 1), got ${JSON.stringify(value) ?? String(value)}`,
      );
    }
  }
  const { atLeast, atMost } = bounds ?? {};
  const isFraction = (b: number) => b > 0 && b < 1;
  if (
    atLeast !== undefined &&
    atMost !== undefined &&
    isFraction(atLeast) === isFraction(atMost) &&
    atLeast > atMost
  ) {
    throw new WeftError(
      "INVALID_TASK_OPTIONS",
      `${fnName}(): atLeast (${atLeast}) is more than atMost (${atMost}), so it never runs`,
    );
  }
  return { atLeast, atMost };
}
