import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isStateA, STATE_PARENT, type StateType, toErrorData } from "../../src/core/states.ts";
import { STATE_TYPES, State } from "../../src/index.ts";

describe("state tree", () => {
  test("every state type has a parent in the tree or is one of the three roots", () => {
    const roots = STATE_TYPES.filter((t) => STATE_PARENT[t] === undefined);
    assert.deepEqual(roots, ["Pending", "Running", "Finished"]);
    for (const t of STATE_TYPES) {
      const parent = STATE_PARENT[t];
      if (parent !== undefined) assert.ok(STATE_TYPES.includes(parent), `${t} → ${parent}`);
    }
  });

  test("isStateA follows the Prefect tree", () => {
    const yes: [StateType, StateType][] = [
      ["Retrying", "Scheduled"],
      ["Retrying", "Pending"],
      ["Paused", "Pending"],
      ["Submitted", "Pending"],
      ["Cancelling", "Running"],
      ["Looped", "Running"],
      ["Cached", "Success"],
      ["Mapped", "Success"],
      ["Skipped", "Success"],
      ["Skipped", "Finished"],
      ["TriggerFailed", "Failed"],
      ["TimedOut", "Failed"],
      ["TimedOut", "Finished"],
      ["Cancelled", "Finished"],
      ["Success", "Success"],
    ];
    for (const [t, a] of yes) assert.equal(isStateA(t, a), true, `${t} is a ${a}`);
    const no: [StateType, StateType][] = [
      ["Success", "Cached"],
      ["Cancelled", "Failed"],
      ["Cancelled", "Success"],
      ["Skipped", "Failed"],
      ["TriggerFailed", "Success"],
      ["Paused", "Running"],
      ["Running", "Finished"],
      ["Pending", "Finished"],
    ];
    for (const [t, a] of no) assert.equal(isStateA(t, a), false, `${t} is not a ${a}`);
  });

  test("State predicates match the families", () => {
    const families: Record<string, StateType[]> = {
      pending: ["Pending", "Scheduled", "Submitted", "Retrying", "Paused"],
      running: ["Running", "Cancelling", "Looped"],
      successful: ["Success", "Cached", "Mapped", "Skipped"],
      failed: ["Failed", "TriggerFailed", "TimedOut"],
    };
    for (const type of STATE_TYPES) {
      const s = new State(type);
      assert.equal(s.isPending(), families.pending!.includes(type), `${type}.isPending()`);
      assert.equal(s.isRunning(), families.running!.includes(type), `${type}.isRunning()`);
      assert.equal(s.isSuccessful(), families.successful!.includes(type), `${type}.isSuccessful`);
      assert.equal(s.isFailed(), families.failed!.includes(type), `${type}.isFailed()`);
      const finished = !s.isPending() && !s.isRunning();
      assert.equal(s.isFinished(), finished, `${type}.isFinished()`);
      assert.equal(s.isSkipped(), type === "Skipped");
    }
  });

  test("durationMs comes from startedAt and timestamp", () => {
    const s = new State("Success", undefined, 1, undefined, 1_000, 1, undefined, undefined, 1_250);
    assert.equal(s.durationMs, 250);
    assert.equal(new State("Running").durationMs, undefined);
  });

  test("toJSON is plain data with ISO times and no empty fields", () => {
    const s = new State(
      "Retrying",
      "attempt 1 of 3 failed: boom",
      undefined,
      { type: "Error", message: "boom" },
      0,
      1,
      2_000,
      undefined,
      1_000,
    );
    assert.deepEqual(s.toJSON(), {
      type: "Retrying",
      message: "attempt 1 of 3 failed: boom",
      timestamp: "1970-01-01T00:00:01.000Z",
      startedAt: "1970-01-01T00:00:00.000Z",
      attempts: 1,
      retryAt: "1970-01-01T00:00:02.000Z",
      error: { type: "Error", message: "boom" },
    });
    const mapped = new State("Mapped", undefined, undefined, undefined, undefined, 0, undefined, [
      new State("Success"),
      new State("Failed"),
    ]);
    assert.deepEqual(Object.keys(mapped.toJSON()).sort(), ["children", "timestamp", "type"]);
    assert.equal(mapped.toJSON().children, 2);
    assert.doesNotThrow(() => JSON.stringify(s));
  });
});

describe("State's shape", () => {
  test("a state owns its five common fields and, of the rare ones, only those given", () => {
    const success = new State(
      "Success",
      undefined,
      42,
      undefined,
      1_000,
      1,
      undefined,
      undefined,
      1_250,
    );
    assert.deepEqual(Object.keys(success), [
      "type",
      "timestamp",
      "result",
      "startedAt",
      "attempts",
    ]);
    assert.equal(success.message, undefined);
    assert.equal(success.error, undefined);
    assert.equal(success.retryAt, undefined);
    assert.equal(success.children, undefined);
    assert.equal(success.childCount, undefined);
    assert.equal(success.location, undefined);
    // Passing undefined explicitly makes the same object as leaving the argument out.
    const explicit = new State(
      "Success",
      undefined,
      42,
      undefined,
      1_000,
      1,
      undefined,
      undefined,
      1_250,
      undefined,
      undefined,
    );
    assert.deepStrictEqual(explicit, success);

    const failed = new State("Failed", "boom", undefined, { type: "Error", message: "boom" }, 1, 2);
    assert.equal(failed.message, "boom");
    assert.deepEqual(failed.error, { type: "Error", message: "boom" });
    assert.ok(Object.keys(failed).includes("message") && Object.keys(failed).includes("error"));
    const rebuilt = new State(
      "Mapped",
      undefined,
      undefined,
      undefined,
      undefined,
      0,
      undefined,
      undefined,
      5,
      3,
      "at/x",
    );
    assert.equal(rebuilt.childCount, 3);
    assert.equal(rebuilt.location, "at/x");
    assert.equal(rebuilt.timestamp, 5);
  });
});

describe("toErrorData", () => {
  test("keeps an Error's class name, message, stack and weft code", () => {
    const data = toErrorData(new TypeError("bad type"));
    assert.equal(data.type, "TypeError");
    assert.equal(data.message, "bad type");
    assert.match(data.stack ?? "", /TypeError: bad type/);
    const coded = Object.assign(new Error("nope"), { code: "VALUE_NOT_CLONEABLE" });
    assert.equal(toErrorData(coded).code, "VALUE_NOT_CLONEABLE");
  });

  test("turns a thrown non-Error value into NonError data that shows the value", () => {
    assert.deepEqual(toErrorData("boom"), {
      type: "NonError",
      message: "threw a non-Error value: 'boom'",
    });
    assert.match(toErrorData({ reason: 42 }).message, /reason: 42/);
    assert.match(toErrorData(undefined).message, /undefined/);
    assert.match(toErrorData(null).message, /null/);
  });

  test("passes error data through unchanged and survives structured clone", () => {
    const data = { type: "X", message: "y", code: "WORKER_FAILED" };
    assert.deepEqual(toErrorData(data), data);
    const cloned = structuredClone(toErrorData(new RangeError("r")));
    assert.equal(cloned.type, "RangeError");
    assert.equal(cloned.message, "r");
  });
});
