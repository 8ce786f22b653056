import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  describeTriggerFailure,
  evaluateTrigger,
  type TriggerName,
  type UpstreamSummary,
} from "../../src/core/triggers.ts";
import { TRIGGERS } from "../../src/index.ts";

const up = (successful: number, failed: number, skipped = 0): UpstreamSummary => ({
  total: successful + failed,
  successful,
  failed,
  skipped,
});

describe("evaluateTrigger", () => {
  test("lists exactly the seven triggers", () => {
    assert.deepEqual(
      [...TRIGGERS].sort(),
      [
        "all_failed",
        "all_finished",
        "all_successful",
        "always_run",
        "any_failed",
        "any_successful",
        "manual_only",
      ].sort(),
    );
  });

  const table: [TriggerName, UpstreamSummary, "run" | "fail" | "pause"][] = [
    ["all_successful", up(3, 0), "run"],
    ["all_successful", up(2, 1), "fail"],
    ["all_failed", up(0, 3), "run"],
    ["all_failed", up(1, 2), "fail"],
    ["any_successful", up(1, 2), "run"],
    ["any_successful", up(0, 2), "fail"],
    ["any_failed", up(2, 1), "run"],
    ["any_failed", up(3, 0), "fail"],
    ["all_finished", up(0, 3), "run"],
    ["all_finished", up(3, 0), "run"],
    ["always_run", up(0, 3), "run"],
    ["always_run", up(2, 1), "run"],
    ["manual_only", up(3, 0), "pause"],
    ["manual_only", up(0, 0), "pause"],
    // Skipped upstreams count as successful.
    ["all_successful", up(3, 0, 3), "run"],
    ["all_failed", up(1, 0, 1), "fail"],
  ];
  for (const [trigger, summary, verdict] of table) {
    test(`${trigger} with ${summary.successful} ok / ${summary.failed} failed → ${verdict}`, () => {
      assert.equal(evaluateTrigger(trigger, summary), verdict);
    });
  }

  test("a task with no upstream runs under every trigger but manual_only", () => {
    for (const trigger of TRIGGERS) {
      assert.equal(evaluateTrigger(trigger, up(0, 0)), trigger === "manual_only" ? "pause" : "run");
    }
  });

  test("the failure sentence names the trigger and the counts", () => {
    assert.equal(
      describeTriggerFailure("all_successful", up(2, 1)),
      "trigger all_successful not met: 2 of 3 upstream succeeded, 1 failed",
    );
  });
});
