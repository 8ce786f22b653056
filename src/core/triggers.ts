/** The triggers a task may use to decide, from its upstream states, whether it runs. */
export const TRIGGERS = [
  "all_successful",
  "all_failed",
  "any_successful",
  "any_failed",
  "all_finished",
  "manual_only",
  "always_run",
] as const;

/** One of {@link TRIGGERS}. */
export type TriggerName = (typeof TRIGGERS)[number];

/** What a trigger decided. */
export type TriggerVerdict = "run" | "fail" | "pause";

/**
 * Counts of a task's finished upstream states (a mapped upstream counts each
 * child). Triggers work from counts, so a fan-in of a million upstream tasks
 * is judged in one pass with no allocation.
 */
export interface UpstreamSummary {
  total: number;
  successful: number;
  failed: number;
  skipped: number;
}

/**
 * Applies a trigger to a task's upstream. A task with no upstream runs
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
  }
}

/** A human sentence for a trigger that did not pass, for the TriggerFailed message. */
export function describeTriggerFailure(trigger: TriggerName, up: UpstreamSummary): string {
  return `trigger ${trigger} not met: ${up.successful} of ${up.total} upstream succeeded, ${up.failed} failed`;
}
