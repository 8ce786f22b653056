import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { context, Fail, flow, Skip, type TaskOptions, task } from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

/** A task whose body fails `failures` times, then returns "ok"; attempts are counted. */
function flaky(failures: number, options: TaskOptions<[]> = {}) {
  const calls: { attempt: number; at: number }[] = [];
  const t = task(
    "flaky",
    () => {
      calls.push({ attempt: context().attempt, at: Date.now() });
      if (calls.length <= failures) throw new Error(`failure ${calls.length}`);
      return "ok";
    },
    options,
  );
  return { t, calls };
}

describe("retries", () => {
  test("a task that fails twice with retries: 2 succeeds on attempt 3", async () => {
    const { t, calls } = flaky(2, { retries: 2 });
    const f = flow(unique("retry-ok"), () => t());
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter });
    const state = run.stateOf("flaky-1");
    assert.equal(state.type, "Success");
    assert.equal(state.attempts, 3);
    assert.deepEqual(
      calls.map((c) => c.attempt),
      [1, 2, 3],
    );
    assert.deepEqual(reporter.taskTypes("flaky-1"), ["Running", "Retrying", "Retrying", "Success"]);
    const [first, second] = reporter.taskStates("flaky-1").filter((s) => s.type === "Retrying");
    assert.match(first!.message ?? "", /attempt 1 of 3 failed: failure 1/);
    assert.equal(first!.error?.message, "failure 1");
    assert.equal(second!.attempts, 2);
    assert.ok(first!.retryAt !== undefined);
  });

  test("retries run out: Failed after retries + 1 attempts with the last error", async () => {
    const { t, calls } = flaky(10, { retries: 2 });
    const f = flow(unique("retry-out"), () => t());
    const run = await f.run();
    const state = run.stateOf("flaky-1");
    assert.equal(state.type, "Failed");
    assert.equal(state.attempts, 3);
    assert.equal(calls.length, 3);
    assert.equal(state.error?.message, "failure 3");
    assert.equal(state.error?.type, "Error");
    assert.match(state.error?.stack ?? "", /failure 3/);
    assert.equal(run.state.type, "Failed");
  });

  test("retryDelay as a number waits between attempts", async () => {
    const { t, calls } = flaky(1, { retries: 1, retryDelay: 60 });
    const run = await flow(unique("retry-delay"), () => t()).run();
    assert.equal(run.stateOf("flaky-1").type, "Success");
    const gap = calls[1]!.at - calls[0]!.at;
    assert.ok(gap >= 50, `waited ${gap} ms, expected about 60`);
  });

  test("retryDelay as a function gets the failed attempt and sets each wait", async () => {
    const asked: number[] = [];
    const { t, calls } = flaky(2, {
      retries: 2,
      retryDelay: (attempt) => {
        asked.push(attempt);
        return attempt * 60;
      },
    });
    const run = await flow(unique("retry-fn"), () => t()).run();
    assert.equal(run.stateOf("flaky-1").type, "Success");
    assert.deepEqual(asked, [1, 2]);
    const gap1 = calls[1]!.at - calls[0]!.at;
    const gap2 = calls[2]!.at - calls[1]!.at;
    assert.ok(gap1 >= 50, `first wait ${gap1} ms, expected about 60`);
    assert.ok(gap2 >= 110, `second wait ${gap2} ms, expected about 120`);
  });

  // Found while writing this suite: the whole run used to fail as "the engine failed".
  test("a retryDelay function that throws fails only its task; the other tasks finish", async () => {
    const t = task(
      "bad-delay",
      () => {
        throw new Error("first failure");
      },
      {
        retries: 1,
        retryDelay: () => {
          throw new Error("delay broke");
        },
      },
    );
    const slow = task("slow", async () => {
      await sleep(20);
      return "slow done";
    });
    const f = flow(unique("retry-delay-throws"), () => ({ bad: t(), slow: slow() }));
    const run = await f.run();
    const bad = run.stateOf(f.outputs.bad);
    assert.equal(bad.type, "Failed");
    assert.match(bad.message ?? "", /delay broke|first failure/);
    assert.equal(run.result(f.outputs.slow), "slow done");
    assert.doesNotMatch(run.state.message ?? "", /engine failed/);
  });

  test("Fail ends the task at once, with no retry", async () => {
    let calls = 0;
    const t = task(
      "fails-hard",
      () => {
        calls++;
        throw new Fail("the input is wrong");
      },
      { retries: 3 },
    );
    const run = await flow(unique("fail-signal"), () => t()).run();
    const state = run.stateOf("fails-hard-1");
    assert.equal(state.type, "Failed");
    assert.equal(state.message, "the input is wrong");
    assert.equal(state.error?.type, "Fail");
    assert.equal(state.attempts, 1);
    assert.equal(calls, 1);
  });

  test("Skip ends the task Skipped, with no retry", async () => {
    let calls = 0;
    const t = task(
      "skips",
      async () => {
        calls++;
        await sleep(1);
        throw new Skip("no rows");
      },
      { retries: 3 },
    );
    const run = await flow(unique("skip-signal"), () => t()).run();
    const state = run.stateOf("skips-1");
    assert.equal(state.type, "Skipped");
    assert.equal(state.message, "no rows");
    assert.equal(calls, 1);
  });

  test("a thrown non-Error value is retried, then kept as data", async () => {
    let calls = 0;
    const t = task(
      "throws-string",
      () => {
        calls++;
        throw "out of cheese";
      },
      { retries: 1 },
    );
    const u = task("throws-object", async () => {
      throw { status: 503 };
    });
    const f = flow(unique("non-error"), () => ({ s: t(), o: u() }));
    const run = await f.run();
    const s = run.stateOf("throws-string-1");
    assert.equal(s.type, "Failed");
    assert.equal(calls, 2);
    assert.equal(s.attempts, 2);
    assert.deepEqual(s.error, {
      type: "NonError",
      message: "threw a non-Error value: 'out of cheese'",
    });
    const o = run.stateOf("throws-object-1");
    assert.equal(o.type, "Failed");
    assert.equal(o.error?.type, "NonError");
    assert.match(o.error?.message ?? "", /status: 503/);
    assert.doesNotThrow(() => structuredClone(o.error));
  });

  test("an async rejection is handled like a throw", async () => {
    const { t, calls } = flaky(0);
    const rejecting = task(
      "rejects",
      async () => {
        await sleep(1);
        throw new TypeError("bad shape");
      },
      { retries: 1 },
    );
    const run = await flow(unique("async-reject"), () => [t(), rejecting()]).run();
    assert.equal(calls.length, 1);
    const s = run.stateOf("rejects-1");
    assert.equal(s.type, "Failed");
    assert.equal(s.error?.type, "TypeError");
    assert.equal(s.attempts, 2);
  });
});

describe("soft timeouts", () => {
  test("an async task past its timeout ends TimedOut and its signal fires", async () => {
    let sawAbort = false;
    const slow = task(
      "slow",
      (ms: number) =>
        new Promise<string>((resolve, reject) => {
          const { signal } = context();
          const timer = setTimeout(() => resolve("finished"), ms);
          signal.addEventListener("abort", () => {
            sawAbort = true;
            clearTimeout(timer);
            reject(signal.reason);
          });
        }),
      { timeout: 50 },
    );
    const f = flow(unique("soft-timeout"), () => ({ late: slow(5_000), quick: slow(1) }));
    const started = Date.now();
    const run = await f.run();
    assert.ok(Date.now() - started < 2_000, "the run did not wait for the slow task");
    const late = run.stateOf(f.outputs.late);
    assert.equal(late.type, "TimedOut");
    assert.ok(late.isFailed());
    assert.match(late.message ?? "", /^soft timeout after 50 ms/);
    assert.equal(late.error?.type, "TaskTimeout");
    assert.ok(sawAbort, "the task's signal fired");
    assert.equal(run.result(f.outputs.quick), "finished");
    assert.equal(run.state.type, "Failed");
  });

  test("a timed-out attempt is retried", async () => {
    const attempts: number[] = [];
    const slowThenFast = task(
      "slow-then-fast",
      async () => {
        const { attempt, signal } = context();
        attempts.push(attempt);
        if (attempt === 1) {
          await sleep(10_000, undefined, { signal }).catch(() => undefined);
        }
        return attempt;
      },
      { timeout: 50, retries: 1 },
    );
    const f = flow(unique("timeout-retry"), () => slowThenFast());
    const run = await f.run();
    assert.equal(run.result(f.outputs), 2);
    assert.deepEqual(attempts, [1, 2]);
  });

  test("a synchronous task that overruns ends TimedOut after it returns", async () => {
    const busy = task(
      "busy",
      () => {
        const end = Date.now() + 80;
        while (Date.now() < end) {
          // spin: in-process code cannot be interrupted
        }
        return "done";
      },
      { timeout: 20 },
    );
    const run = await flow(unique("sync-timeout"), () => busy()).run();
    const s = run.stateOf("busy-1");
    assert.equal(s.type, "TimedOut");
    assert.match(s.message ?? "", /^soft timeout after 20 ms/);
    assert.match(s.message ?? "", /synchronously/);
  });

  test("a task within its timeout is not affected", async () => {
    const quick = task("quick", async () => "fine", { timeout: 1_000 });
    const f = flow(unique("no-timeout"), () => quick());
    assert.equal((await f.run()).result(f.outputs), "fine");
  });
});

describe("caching", () => {
  test("cacheFor reuses a result across runs, as Cached, until it expires", async () => {
    let calls = 0;
    const double = task(
      "double",
      (n: number) => {
        calls++;
        return n * 2;
      },
      { cacheFor: 150 },
    );
    const f = flow(unique("cache"), () => double(21));
    const reporter = new RecordingReporter();
    const first = await f.run();
    assert.equal(first.stateOf("double-1").type, "Success");
    const second = await f.run({ reporter });
    const cached = second.stateOf("double-1");
    assert.equal(cached.type, "Cached");
    assert.ok(cached.isSuccessful());
    assert.equal(second.result(f.outputs), 42);
    assert.match(cached.message ?? "", /cached result from/);
    assert.equal(calls, 1);
    assert.deepEqual(reporter.taskTypes("double-1"), ["Cached"]);
    await sleep(200);
    const third = await f.run();
    assert.equal(third.stateOf("double-1").type, "Success");
    assert.equal(calls, 2);
  });

  test("different inputs miss the cache; a custom cacheKey decides what is equal", async () => {
    const seen: string[] = [];
    const fetchUser = task(
      "fetch-user",
      (id: number, _requestId: string) => {
        seen.push(`${id}`);
        return { id };
      },
      { cacheFor: 60_000, cacheKey: (id) => `user:${id}` },
    );
    const f = flow(unique("cache-key"), () => [
      fetchUser(1, "a"),
      fetchUser(1, "b"),
      fetchUser(2, "c"),
    ]);
    const run = await f.run({ executor: "serial" });
    assert.deepEqual(seen, ["1", "2"]);
    assert.equal(run.stateOf("fetch-user-2").type, "Cached");
    assert.deepEqual(run.result("fetch-user-2"), { id: 1 });
    assert.equal(run.stateOf("fetch-user-3").type, "Success");
  });

  test("a failed result is not cached", async () => {
    let calls = 0;
    const t = task(
      "fails-once",
      () => {
        calls++;
        if (calls === 1) throw new Error("first");
        return calls;
      },
      { cacheFor: 60_000 },
    );
    const f = flow(unique("cache-fail"), () => t());
    assert.equal((await f.run()).stateOf("fails-once-1").type, "Failed");
    assert.equal((await f.run()).stateOf("fails-once-1").type, "Success");
    assert.equal((await f.run()).stateOf("fails-once-1").type, "Cached");
    assert.equal(calls, 2);
  });

  test("a cacheKey that throws or returns a non-string fails the task with a message", async () => {
    const t = task("bad-key", (n: number) => n, {
      cacheFor: 1_000,
      cacheKey: () => 42 as unknown as string,
    });
    const run = await flow(unique("cache-badkey"), () => t(1)).run();
    const s = run.stateOf("bad-key-1");
    assert.equal(s.type, "Failed");
    assert.match(s.message ?? "", /cannot compute the cache key/);
    assert.match(s.message ?? "", /returned number/);
  });
});
