import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  describeTriggerFailure,
  evaluateTrigger,
  type TriggerName,
  triggerLabel,
  type UpstreamSummary,
} from "../../src/core/triggers.ts";
import { isWeftError, someFailed, someSuccessful, TRIGGERS, task } from "../../src/index.ts";

const up = (successful: number, failed: number, skipped = 0): UpstreamSummary => ({
  total: successful + failed,
  successful,
  failed,
  skipped,
});

describe("evaluateTrigger", () => {
  test("lists exactly the eight named triggers", () => {
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
        "not_all_skipped",
      ].sort(),
    );
  });

  const table: [TriggerName, UpstreamSummary, "run" | "fail" | "pause" | "skip"][] = [
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
    // not_all_skipped (Prefect): all skipped → skip; any failed → fail; else run.
    ["not_all_skipped", up(3, 0, 3), "skip"],
    ["not_all_skipped", up(3, 0, 1), "run"],
    ["not_all_skipped", up(3, 0, 0), "run"],
    ["not_all_skipped", up(2, 1, 1), "fail"],
    ["not_all_skipped", up(0, 2, 0), "fail"],
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

  test("a trigger function's failure names the function", () => {
    function enoughRows() {
      return false;
    }
    assert.equal(triggerLabel(enoughRows), "enoughRows");
    assert.equal(
      triggerLabel(() => true),
      "anonymous function",
    );
    assert.equal(
      describeTriggerFailure(enoughRows, up(2, 1)),
      "trigger enoughRows returned false: 2 of 3 upstream succeeded, 1 failed",
    );
  });
});

describe("someFailed and someSuccessful", () => {
  test("count failed (or successful) upstreams within the bounds", () => {
    const one = someFailed({ atLeast: 1 });
    assert.equal(one(up(3, 0)), false);
    assert.equal(one(up(2, 1)), true);
    const few = someFailed({ atLeast: 1, atMost: 2 });
    assert.equal(few(up(1, 2)), true);
    assert.equal(few(up(0, 3)), false);
    const most = someSuccessful({ atMost: 1 });
    assert.equal(most(up(1, 2)), true);
    assert.equal(most(up(2, 1)), false);
    // Skipped counts as successful, as for every trigger.
    assert.equal(someSuccessful({ atLeast: 2 })(up(2, 1, 2)), true);
  });

  test("a bound between 0 and 1 is a fraction of the upstream tasks", () => {
    const half = someSuccessful({ atLeast: 0.5 });
    assert.equal(half(up(2, 2)), true);
    assert.equal(half(up(1, 3)), false);
    assert.equal(someFailed({ atMost: 0.25 })(up(3, 1)), true);
    assert.equal(someFailed({ atMost: 0.25 })(up(2, 2)), false);
  });

  test("a task with no upstream runs, as under the named triggers", () => {
    assert.equal(someFailed({ atLeast: 1 })(up(0, 0)), true);
  });

  test("are named for display and serialization", () => {
    assert.equal(
      triggerLabel(someFailed({ atLeast: 1, atMost: 3 })),
      "some_failed(atLeast: 1, atMost: 3)",
    );
    assert.equal(triggerLabel(someSuccessful({ atLeast: 0.8 })), "some_successful(atLeast: 0.8)");
  });

  test("refuse bounds that are not counts or that can never pass", () => {
    for (const bad of [{ atLeast: -1 }, { atMost: Number.NaN }, { atLeast: "1" }, { most: 2 }]) {
      assert.throws(
        () => someFailed(bad as never),
        (e) =>
          isWeftError(e) && e.code === "INVALID_TASK_OPTIONS" && /someFailed\(\)/.test(e.message),
      );
    }
    assert.throws(
      () => someSuccessful({ atLeast: 3, atMost: 2 }),
      /atLeast \(3\) is more than atMost \(2\)/,
    );
  });

  test("are accepted as a task's trigger, as is any function; anything else is refused", () => {
    assert.equal(
      typeof task("t", () => 1, { trigger: someFailed({ atLeast: 1 }) }).options.trigger,
      "function",
    );
    assert.throws(
      () => task("t", () => 1, { trigger: 3 as never }),
      /option trigger: expected one of "all_successful".*"not_all_skipped" or a function \(got 3\)/,
    );
  });
});
