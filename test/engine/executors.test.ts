import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createExecutor } from "../../src/engine/executors/create-executor.ts";
import { context, type ExecutorSpec, flow, task } from "../../src/index.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

/** A task that sleeps and records how many runs of it overlap. */
function overlapProbe() {
  const probe = { active: 0, max: 0, order: [] as number[] };
  const t = task("sleepy", async (i: number) => {
    probe.active++;
    probe.max = Math.max(probe.max, probe.active);
    probe.order.push(i);
    try {
      await sleep(15, undefined, { signal: context().signal });
    } finally {
      probe.active--;
    }
    return i;
  });
  return { t, probe };
}

const items = Array.from({ length: 12 }, (_, i) => i);

describe("in-process executors", () => {
  test("the concurrent executor keeps at most maxConcurrency task runs in flight", async () => {
    const { t, probe } = overlapProbe();
    const f = flow(unique("bounded"), () => t.map(items));
    const run = await f.run({ executor: { type: "concurrent", maxConcurrency: 3 } });
    assert.deepEqual(run.result(f.outputs), items);
    assert.equal(probe.max, 3);
  });

  test("the bound holds across independent tasks, not only mapped children", async () => {
    const { t, probe } = overlapProbe();
    const f = flow(unique("bounded-nodes"), () => items.map((i) => t(i)));
    const run = await f.run({ executor: { type: "concurrent", maxConcurrency: 3 } });
    assert.equal(run.state.type, "Success");
    assert.equal(probe.max, 3);
    assert.equal(probe.order.length, 12);
  });

  test("the default concurrent executor overlaps async tasks", async () => {
    const { t, probe } = overlapProbe();
    const f = flow(unique("overlap"), () => t.map(items));
    await f.run();
    assert.equal(probe.max, items.length);
  });

  test("the serial executor runs one task at a time, in order", async () => {
    const { t, probe } = overlapProbe();
    const f = flow(unique("serial"), () => ({ many: t.map(items), one: t(99) }));
    const run = await f.run({ executor: "serial" });
    assert.equal(run.state.type, "Success");
    assert.equal(probe.max, 1);
    assert.deepEqual(probe.order, [...items, 99]);
  });

  test("the flow's executor option is used unless the run names one", async () => {
    const { t, probe } = overlapProbe();
    const f = flow(unique("flow-executor"), () => t.map([1, 2, 3, 4]), { executor: "serial" });
    await f.run();
    assert.equal(probe.max, 1);
    await f.run({ executor: "concurrent" });
    assert.equal(probe.max, 4);
  });

  test("executor specs resolve to their kind and bound", () => {
    const cases: [ExecutorSpec, string, number][] = [
      ["serial", "serial", 1],
      ["concurrent", "concurrent", 100],
      [{ type: "concurrent", maxConcurrency: 7 }, "concurrent", 7],
      // Two batches of 256 calls per thread.
      [{ type: "worker-threads", maxWorkers: 2 }, "worker-threads", 1024],
      [{ type: "worker-threads", maxWorkers: 2, maxConcurrency: 3 }, "worker-threads", 3],
    ];
    for (const [spec, kind, maxInFlight] of cases) {
      const executor = createExecutor(spec);
      assert.equal(executor.kind, kind);
      assert.equal(executor.maxInFlight, maxInFlight, JSON.stringify(spec));
      assert.equal(executor.hardTimeouts, kind === "worker-threads");
    }
  });
});
