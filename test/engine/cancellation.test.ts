import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { context, flow, task } from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

/** A mapped sleep whose children honour their signal; records starts and aborts. */
function sleepers() {
  const log = { started: [] as number[], aborted: [] as number[] };
  const nap = task("nap", async (i: number) => {
    const { signal, mapIndex } = context();
    log.started.push(mapIndex ?? -1);
    try {
      await sleep(10_000, undefined, { signal });
    } catch (error) {
      log.aborted.push(mapIndex ?? -1);
      throw error;
    }
    return i;
  });
  const after = task("after", (xs: number[]) => xs.length);
  return { nap, after, log };
}

describe("cancellation", { timeout: 20_000 }, () => {
  test("aborting mid-run cancels quickly: running tasks' signals fire, pending tasks end Cancelled", async () => {
    const { nap, after, log } = sleepers();
    const f = flow(unique("cancel"), () => after(nap.map([0, 1, 2, 3, 4, 5])));
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 50);
    const run = await f.run({
      signal: controller.signal,
      executor: { type: "concurrent", maxConcurrency: 2 },
    });
    assert.ok(Date.now() - started < 1_000, `took ${Date.now() - started} ms`);
    assert.equal(run.state.type, "Cancelled");
    assert.equal(run.stateOf("nap-1").type, "Cancelled");
    assert.equal(run.stateOf("after-1").type, "Cancelled");
    assert.equal(run.stateOf("after-1").message, "the flow run was cancelled");
    await sleep(5);
    assert.deepEqual(log.started, [0, 1], "nothing starts after the abort");
    assert.deepEqual(log.aborted.sort(), [0, 1]);
    assert.deepEqual(
      process.getActiveResourcesInfo().filter((r) => r === "Timeout"),
      [],
      "the aborted sleeps left no timer behind",
    );
  });

  test("an already aborted signal runs nothing", async () => {
    const { nap, after, log } = sleepers();
    const f = flow(unique("cancel-before"), () => after(nap.map([0, 1])));
    const run = await f.run({ signal: AbortSignal.abort() });
    assert.equal(run.state.type, "Cancelled");
    assert.deepEqual(log.started, []);
    for (const s of run.taskStates.values()) assert.equal(s.type, "Cancelled");
  });

  test("aborting while a task waits to retry cancels without another attempt", async () => {
    let attempts = 0;
    const flaky = task(
      "flaky",
      () => {
        attempts++;
        throw new Error("down");
      },
      { retries: 3, retryDelay: 10_000 },
    );
    const f = flow(unique("cancel-retry"), () => flaky());
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const started = Date.now();
    const run = await f.run({ signal: controller.signal });
    assert.ok(Date.now() - started < 1_000);
    assert.equal(run.state.type, "Cancelled");
    assert.equal(run.stateOf("flaky-1").type, "Cancelled");
    assert.equal(attempts, 1);
  });

  test("the serial executor starts nothing more after the abort", async () => {
    const { nap, log } = sleepers();
    const f = flow(unique("cancel-serial"), () => nap.map([0, 1, 2]));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const run = await f.run({ signal: controller.signal, executor: "serial" });
    assert.equal(run.state.type, "Cancelled");
    await sleep(5);
    assert.deepEqual(log.started, [0]);
  });

  // Found while writing this suite: cancelled tasks (then running mapped children) went unreported.
  test("the reporter hears a final state for every task it heard start", async () => {
    const { nap, after } = sleepers();
    const f = flow(unique("cancel-reported"), () => ({
      many: after(nap.map([0, 1])),
      single: nap(9),
    }));
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const reporter = new RecordingReporter();
    const run = await f.run({ signal: controller.signal, reporter });
    assert.equal(run.state.type, "Cancelled");
    assert.deepEqual(reporter.flowTypes(), ["Running", "Cancelled"]);
    // Reported like the run's own taskStates.
    assert.deepEqual(reporter.taskTypes("nap-2"), ["Running", "Cancelled"]);
    assert.deepEqual(reporter.taskTypes("nap-1"), ["Cancelled"]);
    assert.deepEqual(reporter.taskTypes("after-1"), ["Cancelled"]);
    for (const i of [0, 1]) {
      assert.deepEqual(reporter.taskTypes("nap-1", i), ["Running", "Cancelled"], `child ${i}`);
    }
  });
});
