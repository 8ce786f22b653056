import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { context, Fail, flow, parameter, Skip, task, unmapped } from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

const inc = task("inc", (x: number) => x + 1);
const add = task("add", (a: number, b: number) => a + b);
const sum = task("sum", (xs: number[]) => xs.reduce((a, b) => a + b, 0));
const range = task("range", (n: number) => Array.from({ length: n }, (_, i) => i));
const failOdd = task("fail-odd", (x: number) => {
  if (x % 2 === 1) throw new Fail(`odd ${x}`);
  return x;
});

describe("mapping", () => {
  test("one child per item, each with its own state; the parent is Mapped", async () => {
    const f = flow(unique("map-basic"), () => inc.map([1, 2, 3]));
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter });
    const parent = run.stateOf(f.outputs);
    assert.equal(parent.type, "Mapped");
    assert.equal(parent.children?.length, 3);
    assert.deepEqual(
      parent.children?.map((c) => [c.type, c.result]),
      [
        ["Success", 2],
        ["Success", 3],
        ["Success", 4],
      ],
    );
    assert.deepEqual(run.result(f.outputs), [2, 3, 4]);
    assert.match(parent.message ?? "", /3 children: 3 succeeded, 0 failed, 0 skipped/);
    for (const i of [0, 1, 2])
      assert.deepEqual(reporter.taskTypes("inc-1", i), ["Running", "Success"]);
    assert.deepEqual(reporter.taskTypes("inc-1"), ["Mapped"]);
  });

  test("a map over an upstream list, several lists zipped by index, and a constant", async () => {
    const f = flow(unique("map-zip"), () => {
      const xs = range(parameter("n", 4));
      const ys = add.map(xs, [10, 20, 30, 40]);
      const zs = add.map(ys, unmapped(parameter("offset", 100)));
      return { ys, zs };
    });
    const run = await f.run();
    assert.deepEqual(run.outputs, { ys: [10, 21, 32, 43], zs: [110, 121, 132, 143] });
  });

  test("unmapped() of an array holding refs resolves each ref for every child", async () => {
    const pair = task("pair", (x: number, all: number[]) => `${x}/${all.join(",")}`);
    const f = flow(unique("map-unmapped-refs"), () => {
      return pair.map([1, 2], unmapped([inc(1), 5, inc(9)]));
    });
    assert.deepEqual((await f.run()).result(f.outputs), ["1/2,5,10", "2/2,5,10"]);
  });

  test("an array of refs is mapped item by item", async () => {
    const f = flow(unique("map-refs"), () => inc.map([inc(1), inc(2), 7]));
    assert.deepEqual((await f.run()).result(f.outputs), [3, 4, 8]);
  });

  test("mapping over an empty list gives an empty Mapped result and downstream still runs", async () => {
    const f = flow(unique("map-empty"), () => {
      const none = inc.map(range(parameter("n", 0)));
      return { none, total: sum(none), again: inc.map(none) };
    });
    const run = await f.run();
    assert.equal(run.stateOf(f.outputs.none).type, "Mapped");
    assert.deepEqual(run.stateOf(f.outputs.none).children, []);
    assert.deepEqual(run.outputs, { none: [], total: 0, again: [] });
    assert.equal(run.state.type, "Success");
  });

  test("lists of unequal length fail the mapped task with a message naming both lengths", async () => {
    const f = flow(unique("map-unequal"), () => add.map(range(3), [1, 2]));
    const run = await f.run();
    const s = run.stateOf(f.outputs);
    assert.equal(s.type, "Failed");
    assert.match(s.message ?? "", /add\.map\(\) differ in length: 3 and 2 items/);
    assert.equal(s.error?.message, s.message);
    assert.equal(run.state.type, "Failed");
  });

  test("mapping over a result that is not an array fails with a message", async () => {
    const f = flow(unique("map-scalar"), () => inc.map(inc(1) as never));
    const s = (await f.run()).stateOf(f.outputs);
    assert.equal(s.type, "Failed");
    assert.match(s.message ?? "", /must be an array, but inc-1 returned number/);
  });

  test("an unmapped task taking a mapped ref gets the whole array (reduce)", async () => {
    const f = flow(unique("map-reduce"), () => sum(inc.map(range(5))));
    assert.equal((await f.run()).result(f.outputs), 15);
  });

  test("children see their own mapIndex and retry on their own", async () => {
    const seen: [number | undefined, number][] = [];
    const flakyChild = task(
      "flaky-child",
      (x: number) => {
        const { mapIndex, attempt } = context();
        seen.push([mapIndex, attempt]);
        if (x === 20 && attempt === 1) throw new Error("transient");
        return x * attempt;
      },
      { retries: 2 },
    );
    const f = flow(unique("map-retry"), () => flakyChild.map([10, 20, 30]));
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter, executor: "serial" });
    assert.deepEqual(run.result(f.outputs), [10, 40, 30]);
    assert.deepEqual(
      run.stateOf(f.outputs).children?.map((c) => c.attempts),
      [1, 2, 1],
    );
    assert.deepEqual(
      seen.sort((a, b) => a[0]! - b[0]! || a[1] - b[1]),
      [
        [0, 1],
        [1, 1],
        [1, 2],
        [2, 1],
      ],
    );
    assert.deepEqual(reporter.taskTypes("flaky-child-1", 1), ["Running", "Retrying", "Success"]);
    assert.deepEqual(reporter.taskTypes("flaky-child-1", 0), ["Running", "Success"]);
  });

  test("a failed child: the other children succeed, a reduce is TriggerFailed, the flow Failed", async () => {
    const f = flow(unique("map-child-fails"), () => {
      const checked = failOdd.map([0, 1, 2]);
      return { checked, total: sum(checked) };
    });
    const run = await f.run();
    const parent = run.stateOf(f.outputs.checked);
    assert.equal(parent.type, "Mapped");
    assert.deepEqual(
      parent.children?.map((c) => c.type),
      ["Success", "Failed", "Success"],
    );
    assert.equal(parent.children?.[1]?.message, "odd 1");
    assert.match(parent.message ?? "", /3 children: 2 succeeded, 1 failed/);
    const total = run.stateOf(f.outputs.total);
    assert.equal(total.type, "TriggerFailed");
    assert.match(total.message ?? "", /2 of 3 upstream succeeded, 1 failed/);
    assert.equal(run.state.type, "Failed");
  });

  test("a failed child alone (as a reference task) fails the flow", async () => {
    const f = flow(unique("map-child-ref"), () => failOdd.map([0, 1]));
    const run = await f.run();
    assert.equal(run.stateOf(f.outputs).type, "Mapped");
    assert.equal(run.state.type, "Failed");
    assert.match(run.state.message ?? "", /fail-odd-1/);
  });

  test("a map over a mapped ref lines up by index: child i is judged by upstream child i", async () => {
    const seen: number[] = [];
    const record = task("record", (x: number) => {
      seen.push(x);
      return x * 10;
    });
    const f = flow(unique("map-over-map"), () => record.map(failOdd.map([0, 1, 2, 3])));
    const run = await f.run();
    const children = run.stateOf(f.outputs).children ?? [];
    assert.deepEqual(
      children.map((c) => c.type),
      ["Success", "TriggerFailed", "Success", "TriggerFailed"],
    );
    assert.deepEqual(
      children.map((c) => c.result),
      [0, undefined, 20, undefined],
    );
    assert.deepEqual(seen.sort(), [0, 2]);
  });

  test("a skipped child skips its aligned child downstream, and a reduce over it", async () => {
    const skipEven = task("skip-even", (x: number) => {
      if (x % 2 === 0) throw new Skip(`even ${x}`);
      return x;
    });
    const f = flow(unique("map-skip"), () => {
      const kept = skipEven.map([1, 2, 3]);
      const next = inc.map(kept);
      return { next, total: sum(next) };
    });
    const run = await f.run();
    assert.deepEqual(
      run.stateOf(f.outputs.next).children?.map((c) => c.type),
      ["Success", "Skipped", "Success"],
    );
    assert.equal(run.stateOf(f.outputs.total).type, "Skipped");
    assert.equal(run.state.type, "Success");
  });

  test("unmapped(mapped ref): every child gets the whole array, judged by every upstream child", async () => {
    const pair = task("pair", (x: number, all: number[]) => `${x}/${all.join(",")}`);
    const f = flow(unique("map-unmapped-mapped"), () => ({
      good: pair.map([1, 2], unmapped(inc.map([1, 2]))),
      bad: pair.map([1, 2], unmapped(failOdd.map([0, 1]))),
    }));
    const run = await f.run();
    assert.deepEqual(run.result(f.outputs.good), ["1/2,3", "2/2,3"]);
    // Each child sees every child of the unmapped upstream, and ends in its own state.
    const bad = run.stateOf(f.outputs.bad);
    assert.equal(bad.type, "Mapped");
    assert.deepEqual(
      bad.children?.map((c) => c.type),
      ["TriggerFailed", "TriggerFailed"],
    );
    assert.match(bad.children?.[0]?.message ?? "", /1 of 2 upstream succeeded, 1 failed/);
  });
});
