// The task host (src/engine/task-host.ts): whatever a body does, it answers
// with an outcome as data and never throws; Skip and Fail become data too.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  failure,
  finalFailure,
  hostTask,
  type TaskOutcome,
  TaskRunContext,
  type TaskScope,
} from "../../src/engine/task-host.ts";
import { context, Fail, Skip, WeftError } from "../../src/index.ts";

const scope: TaskScope = {
  info: { id: "run-1", flowName: "host", parameters: { n: 1 } },
  signal: new AbortController().signal,
  logSink: undefined,
  results: undefined,
};
const ctx = (slug = "t-1") => new TaskRunContext(scope, { slug, task: { name: "t" } }, 4, 2);

describe("task host", () => {
  test("a synchronous body's value is an outcome now, with no promise", () => {
    const out = hostTask(ctx(), (a: number, b: number) => a + b, [2, 3]);
    assert.deepEqual(out, { ok: true, value: 5 });
  });

  test("a context's signal fires on abort, whether it was read before the abort or after", () => {
    const early = ctx();
    const seen = early.signal;
    assert.equal(seen.aborted, false);
    assert.equal(early.signal, seen, "the signal is made once");
    early.abort("timed out");
    assert.equal(seen.aborted, true);
    assert.equal(seen.reason, "timed out");

    const late = ctx();
    late.abort("too late");
    assert.equal(late.signal.aborted, true);
    assert.equal(late.signal.reason, "too late");
    assert.equal(late.logger, late.logger, "the logger is made once");
  });

  test("an async body's value is a promise of the outcome", async () => {
    const out = hostTask(ctx(), async (x: string) => `${x}!`, ["hi"]);
    assert.ok(out instanceof Promise);
    assert.deepEqual(await out, { ok: true, value: "hi!" });
  });

  test("the body sees its context: run, task, map index, attempt, parameters", () => {
    const out = hostTask(ctx("seen-1"), () => {
      const c = context();
      return [c.flowRunId, c.flowName, c.taskSlug, c.taskName, c.mapIndex, c.attempt, c.parameters];
    }, []) as TaskOutcome;
    assert.deepEqual(out, { ok: true, value: ["run-1", "host", "seen-1", "t", 4, 2, { n: 1 }] });
  });

  test("a throw, sync or async, is a failed outcome with the error as data; never a throw", async () => {
    const thrown = new WeftError("USAGE", "broken", { hint: "fix it" });
    const sync = hostTask(ctx(), () => {
      throw thrown;
    }, []) as TaskOutcome;
    assert.equal(sync.ok, false);
    assert.ok(!sync.ok);
    assert.equal(sync.error.message, "broken");
    assert.equal(sync.error.code, "USAGE");
    assert.equal(sync.error.hint, "fix it");
    assert.equal(sync.error.retryable, undefined, "an ordinary error may be retried");
    const later = await hostTask(ctx(), async () => Promise.reject(new RangeError("late")), []);
    assert.ok(!later.ok);
    assert.equal(later.error.type, "RangeError");
    const nonError = hostTask(ctx(), () => {
      throw "a string";
    }, []) as TaskOutcome;
    assert.ok(!nonError.ok);
    assert.equal(nonError.error.type, "NonError");
  });

  test("Skip is a skipped outcome; Fail is not retryable", () => {
    const skipped = failure(new Skip("not today"));
    assert.deepEqual(
      { ...skipped, error: { ...skipped.error, stack: undefined } },
      {
        ok: false,
        skipped: true,
        error: { type: "Skip", message: "not today", stack: undefined },
      },
    );
    const failed = failure(new Fail("never"));
    assert.ok(!failed.ok);
    assert.equal(failed.error.retryable, false);
    assert.equal(failed.skipped, undefined);
    // Signals are read by shape, as they cross threads: an error named Fail is one.
    const named = Object.assign(new Error("x"), { name: "Fail" });
    assert.equal(failure(named).error.retryable, false);
  });

  test("finalFailure marks any error not retryable", () => {
    const out = finalFailure(new WeftError("VALUE_NOT_CLONEABLE", "cannot cross"));
    assert.equal(out.error.retryable, false);
    assert.equal(out.error.code, "VALUE_NOT_CLONEABLE");
  });

  test("an outcome is structured-cloneable data: it crosses threads as it is", () => {
    const out = failure(new Fail("never"));
    assert.deepEqual(structuredClone(out), out);
  });
});
