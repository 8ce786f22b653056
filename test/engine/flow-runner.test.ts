import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import {
  createFlowRunner,
  Fail,
  type Flow,
  flow,
  isWeftError,
  parameter,
  runFlow,
  Skip,
  task,
  unmapped,
  WeftError,
} from "../../src/index.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

const add = task("add", (a: number, b: number) => a + b, { retries: 2, retryDelay: 100 });
const inc = task(function inc(x: number) {
  return x + 1;
});
const boom = task("boom", (_x?: unknown): number => {
  throw new Fail("boom");
});
const skip = task("skip", (_x?: unknown): number => {
  throw new Skip("nothing to do today");
});
const show = task("show", (v: unknown) => `got ${String(v)}`);

const demo = flow(unique("demo"), () => {
  const x = parameter("x", 1);
  const y = add(x, 2);
  const ys = inc.map([1, 2, 3]);
  const z = add.map(ys, unmapped(y));
  return { y, z };
});

describe("a flow run", () => {
  for (const executor of ["serial", "concurrent"] as const) {
    test(`the contract example gives its results (${executor})`, async () => {
      const run = await demo.run({ parameters: { x: 5 }, executor });
      assert.equal(run.state.type, "Success");
      assert.equal(run.flowName, demo.name);
      assert.equal(run.result(demo.outputs.y), 7);
      assert.deepEqual(run.result(demo.outputs.z), [9, 10, 11]);
      assert.deepEqual(run.outputs, { y: 7, z: [9, 10, 11] });
      assert.deepEqual(
        [...run.taskStates].map(([slug, s]) => [slug, s.type]),
        [
          ["x", "Success"],
          ["add-1", "Success"],
          ["inc-1", "Mapped"],
          ["add-2", "Mapped"],
        ],
      );
      assert.equal(run.stateOf("add-1").result, 7);
      assert.equal(run.stateOf(demo.outputs.y).attempts, 1);
      assert.equal(run.stateOf("add-2").children?.length, 3);
    });
  }

  test("the default parameter is used and each run is independent", async () => {
    const a = await demo.run();
    const b = await demo.run({ parameters: { x: 10 } });
    assert.equal(a.result(demo.outputs.y), 3);
    assert.equal(b.result(demo.outputs.y), 12);
    assert.notEqual(a.id, b.id);
  });

  test("runFlow and createFlowRunner run a flow like flow.run", async () => {
    const direct = await runFlow(demo, { parameters: { x: 2 } });
    assert.equal(direct.result(demo.outputs.y), 4);
    const runner = createFlowRunner(demo as Flow<unknown>);
    assert.equal(runner.flow, demo);
    const viaRunner = await runner.run({ parameters: { x: 3 } });
    assert.deepEqual(viaRunner.outputs, { y: 5, z: [7, 8, 9] });
  });

  test("flowRunId names the run", async () => {
    const id = randomUUID();
    const run = await demo.run({ flowRunId: id });
    assert.equal(run.id, id);
  });

  test("finished states carry start, end and duration", async () => {
    const before = Date.now();
    const run = await demo.run();
    const s = run.stateOf("add-1");
    assert.ok(s.startedAt !== undefined && s.startedAt >= before);
    assert.ok(s.timestamp >= s.startedAt);
    assert.ok(run.state.startedAt !== undefined && run.state.timestamp >= run.state.startedAt);
  });

  test("result() of a task without a result → RESULT_UNAVAILABLE naming its state", async () => {
    const f = flow(unique("unavailable"), () => {
      const a = boom();
      return { a, b: inc(a) };
    });
    const run = await f.run();
    assert.equal(run.state.type, "Failed");
    assert.throws(
      () => run.result(f.outputs.b),
      (e: unknown) =>
        isWeftError(e) &&
        e.code === "RESULT_UNAVAILABLE" &&
        /inc-1/.test(e.message) &&
        /TriggerFailed/.test(e.message),
    );
    assert.throws(() => run.result("boom-1"), /ended Failed \(boom\)/);
    assert.deepEqual(run.outputs, { a: undefined, b: undefined });
  });

  test("stateOf and result refuse slugs and refs that are not in the flow", async () => {
    const run = await demo.run();
    assert.throws(
      () => run.stateOf("nope-1"),
      (e: unknown) => isWeftError(e) && e.code === "UNKNOWN_TASK",
    );
    const other = flow(unique("other"), () => add(parameter("p", 1), 1));
    other.build();
    assert.throws(
      () => run.result(other.outputs),
      (e: unknown) => isWeftError(e) && e.code === "UNKNOWN_TASK",
    );
  });

  test("bad run options are refused before anything runs", async () => {
    let ran = 0;
    const counted = task("counted", () => ++ran);
    const f = flow(unique("bad-options"), () => counted());
    await assert.rejects(f.run({ executor: "processes" as never }), (e: unknown) => {
      assert.ok(isWeftError(e));
      assert.equal(e.code, "INVALID_EXECUTOR");
      assert.match(e.message, /"processes"/);
      assert.match(e.hint ?? "", /serial, concurrent, worker-threads/);
      return true;
    });
    await assert.rejects(
      f.run({ executor: { type: "concurrent", maxConcurrency: 0 } }),
      (e: unknown) =>
        isWeftError(e) && e.code === "INVALID_EXECUTOR" && /maxConcurrency/.test(e.message),
    );
    await assert.rejects(
      f.run({ executor: { type: "serial", maxConcurrency: 2 } as never }),
      (e: unknown) => isWeftError(e) && e.code === "INVALID_EXECUTOR",
    );
    await assert.rejects(
      f.run({ approve: ["nope-1"] }),
      (e: unknown) => isWeftError(e) && e.code === "UNKNOWN_TASK" && /nope-1/.test(e.message),
    );
    assert.equal(ran, 0);
  });

  test("the watch for tasks that never settle starts only when the walk waits for a task's promise", async () => {
    // The walk's listener is the one "beforeExit" listener added while its run is under way.
    const before = process.listenerCount("beforeExit");
    const seen: number[] = [];
    const look = task("look", (_after?: unknown) => {
      seen.push(process.listenerCount("beforeExit") - before);
    });
    const later = task("later", async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return 1;
    });
    const sync = await flow(unique("sync-only"), () => look(look())).run();
    assert.equal(sync.state.type, "Success");
    assert.deepEqual(seen, [0, 0], "synchronous bodies: no listener");
    const waits = await flow(unique("waits"), () => look(later())).run();
    assert.equal(waits.state.type, "Success");
    assert.deepEqual(seen.slice(2), [1], "after a wait for a promise: watched until the run ends");
    assert.equal(process.listenerCount("beforeExit"), before, "and removed when it ended");
  });

  test("a flow that cannot be built rejects its run with the build error", async () => {
    const f = flow(unique("unbuildable"), () => {
      throw new Error("no graph today");
    });
    await assert.rejects(
      f.run(),
      (e: unknown) => e instanceof WeftError && e.code === "FLOW_BUILD_FAILED",
    );
  });
});

describe("final state from reference tasks", () => {
  test("a failed terminal task fails the flow and the message names it", async () => {
    const f = flow(unique("fails"), () => {
      const a = inc(1);
      return { ok: inc(a), bad: boom(a) };
    });
    const run = await f.run();
    assert.equal(run.state.type, "Failed");
    assert.match(run.state.message ?? "", /1 of 2 reference tasks failed: boom-1/);
    assert.equal(run.result(f.outputs.ok), 3);
  });

  test("a failure outside the reference tasks does not fail the flow", async () => {
    const f = flow(
      unique("ref-ok"),
      () => {
        const a = inc(1);
        return { ok: inc(a), bad: boom(a) };
      },
      { referenceTasks: (out) => [out.ok] },
    );
    const run = await f.run();
    assert.equal(run.stateOf("boom-1").type, "Failed");
    assert.equal(run.state.type, "Success");
  });

  test("referenceTasks by slug", async () => {
    const f = flow(
      unique("ref-slug"),
      () => {
        const a = inc(1);
        return { ok: inc(a), bad: boom(a) };
      },
      { referenceTasks: ["boom-1"] },
    );
    assert.equal((await f.run()).state.type, "Failed");
  });

  test("a TriggerFailed reference task fails the flow", async () => {
    const f = flow(unique("trigger-failed-ref"), () => inc(boom()));
    const run = await f.run();
    assert.equal(run.stateOf("inc-1").type, "TriggerFailed");
    assert.equal(run.state.type, "Failed");
  });

  test("a Skipped reference task counts as success", async () => {
    const f = flow(unique("skipped-ref"), () => skip(inc(1)));
    const run = await f.run();
    assert.equal(run.stateOf("skip-1").type, "Skipped");
    assert.equal(run.state.type, "Success");
  });
});

describe("failure and skip propagation", () => {
  test("a failure fails everything downstream with TriggerFailed, and parallel branches still run", async () => {
    const f = flow(unique("chain"), () => {
      const start = inc(parameter("n", 1));
      const bad = boom(start);
      const after1 = inc(bad);
      const after2 = show(after1);
      const side = inc(start);
      return { after2, side };
    });
    const run = await f.run();
    assert.equal(run.stateOf("boom-1").type, "Failed");
    assert.equal(run.stateOf("inc-2").type, "TriggerFailed");
    assert.match(
      run.stateOf("inc-2").message ?? "",
      /trigger all_successful not met: 0 of 1 upstream succeeded, 1 failed/,
    );
    assert.equal(run.stateOf("show-1").type, "TriggerFailed");
    assert.equal(run.result(f.outputs.side), 3);
  });

  test("Skip skips the task and, by default, everything downstream", async () => {
    const f = flow(unique("skip-chain"), () => {
      const s = skip(inc(1));
      const d1 = inc(s);
      const d2 = show(d1);
      return d2;
    });
    const run = await f.run();
    assert.equal(run.stateOf("skip-1").type, "Skipped");
    assert.equal(run.stateOf("skip-1").message, "nothing to do today");
    assert.equal(run.stateOf("inc-2").type, "Skipped");
    assert.match(run.stateOf("inc-2").message ?? "", /upstream task was skipped/);
    assert.equal(run.stateOf("show-1").type, "Skipped");
    assert.equal(run.state.type, "Success");
  });

  test("skipOnUpstreamSkip: false runs the task with undefined for the skipped input", async () => {
    const tolerant = show.with({ skipOnUpstreamSkip: false });
    const f = flow(unique("skip-tolerant"), () => {
      const s = skip();
      return { tolerant: tolerant(s), strict: show(s) };
    });
    const run = await f.run();
    assert.equal(run.stateOf("show-1").type, "Success");
    assert.equal(run.result(f.outputs.tolerant), "got undefined");
    assert.equal(run.stateOf("show-2").type, "Skipped");
  });

  test("skipping is decided before the trigger", async () => {
    const f = flow(unique("skip-before-trigger"), () => {
      const ok = inc(1);
      const s = skip(ok);
      return show.with({ trigger: "all_failed" })(s);
    });
    const run = await f.run();
    assert.equal(run.stateOf("show-1").type, "Skipped");
  });
});
