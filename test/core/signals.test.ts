// Signals are recognised by shape (they cross threads and queues as data), and
// the task host folds each into the attempt's outcome.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { SIGNAL_KINDS, signalOf } from "../../src/core/signals.ts";
import { failure } from "../../src/engine/task-host.ts";
import { Fail, Loop, Pause, Retry, Skip, Succeed } from "../../src/index.ts";

describe("signals", () => {
  test("each class carries its kind, message and data", () => {
    const loop = new Loop({ result: [1, 2], message: "page 2" });
    assert.equal(signalOf(loop), "loop");
    assert.equal(loop.message, "page 2");
    assert.deepEqual(loop.result, [1, 2]);
    assert.equal(new Loop().message, "looped");
    assert.equal(signalOf(new Pause()), "pause");
    const retry = new Retry({ delay: 250, message: "busy" });
    assert.equal(signalOf(retry), "retry");
    assert.equal(retry.delay, 250);
    const ok = new Succeed({ result: { n: 1 }, message: "early" });
    assert.equal(signalOf(ok), "succeed");
    assert.deepEqual(ok.result, { n: 1 });
    assert.equal(signalOf(new Skip()), "skip");
    assert.equal(signalOf(new Fail()), "fail");
    assert.deepEqual([...SIGNAL_KINDS], ["skip", "fail", "loop", "pause", "retry", "succeed"]);
  });

  test("recognised by shape: a signal field, or the class name, from any copy of weft", () => {
    assert.equal(signalOf({ signal: "loop", result: 1 }), "loop");
    assert.equal(signalOf({ signal: "succeed" }), "succeed");
    assert.equal(signalOf(Object.assign(new Error("x"), { name: "Pause" })), "pause");
    assert.equal(signalOf(Object.assign(new Error("x"), { name: "Retry" })), "retry");
    assert.equal(signalOf({ signal: "explode" }), undefined);
    assert.equal(signalOf({ name: "toString" }), undefined, "no prototype keys");
    assert.equal(signalOf(new Error("plain")), undefined);
    assert.equal(signalOf("Loop"), undefined);
  });

  test("the task host folds them into cloneable outcomes", () => {
    const loop = failure(new Loop({ result: new Map([["a", 1]]), message: "more" }));
    assert.deepEqual(loop.directive, { kind: "loop", result: new Map([["a", 1]]) });
    assert.equal(loop.error.message, "more");
    assert.deepEqual(structuredClone(loop), loop, "clones as it is");
    assert.deepEqual(failure(new Pause()).directive, { kind: "pause" });
    assert.deepEqual(failure(new Retry({ delay: 5 })).directive, { kind: "retry", delay: 5 });
    assert.deepEqual(failure(new Retry()).directive, { kind: "retry", delay: undefined });
    assert.deepEqual(failure(new Succeed({ result: 3 })).directive, {
      kind: "succeed",
      result: 3,
    });
    // A signal rebuilt from data on another thread (no class) still counts.
    assert.deepEqual(failure({ signal: "loop", result: 9, name: "Loop", message: "m" }).directive, {
      kind: "loop",
      result: 9,
    });
    assert.equal(failure(new Skip()).skipped, true);
    assert.equal(failure(new Fail()).error.retryable, false);
    assert.equal(failure(new Error("x")).directive, undefined);
  });
});
