// Targets (Prefect's `target`): a task whose rendered target exists in the
// result backend ends Cached with what is stored there, without running; else
// it runs and its result is written there. Real files in a temp directory.
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { renderTarget } from "../../src/core/targets.ts";
import { createLocalResultBackend, flow, isWeftError, parameter, task } from "../../src/index.ts";
import { filesUnder, tempDir, unique } from "../fixtures/results/results-helpers.ts";

const today = () => new Date().toISOString().slice(0, 10);

describe("targets", () => {
  test("the first run writes the target; the next one is Cached from it without running", async (t) => {
    const dir = tempDir(t);
    let calls = 0;
    const extract = task(
      "extract",
      (day: string) => {
        calls++;
        return { day, rows: [1, 2, 3] };
      },
      { target: "{flowName}/{taskName}-{today}" },
    );
    const name = unique("target");
    const f = flow(name, () => extract(parameter("day", "monday")), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const first = await f.run();
    assert.equal(first.stateOf(f.outputs).type, "Success");
    const location = `${name}/extract-${today()}`;
    assert.equal(first.stateOf(f.outputs).location, location);
    assert.ok(existsSync(join(dir, location)));
    assert.deepEqual(filesUnder(dir), [location], "the target replaces the template's checkpoint");

    const second = await f.run({ parameters: { day: "tuesday" } });
    const state = second.stateOf(f.outputs);
    assert.equal(state.type, "Cached");
    assert.match(state.message ?? "", /target .* exists: the task did not run/);
    assert.equal(state.location, location);
    assert.deepEqual(second.result(f.outputs), { day: "monday", rows: [1, 2, 3] });
    assert.equal(calls, 1);
    assert.equal(second.state.type, "Success");
  });

  test("a target on a mapped task: one location per child ({mapIndex}); a failed child runs again", async (t) => {
    const dir = tempDir(t);
    const seen: number[] = [];
    let failTwo = true;
    const square = task(
      "square",
      (x: number) => {
        seen.push(x);
        if (x === 2 && failTwo) throw new Error("two fails the first time");
        return x * x;
      },
      { target: "{flowName}/{parameters.batch}/{taskSlug}-{mapIndex}" },
    );
    const name = unique("target-mapped");
    const f = flow(
      name,
      () => {
        parameter("batch", "b1");
        return square.map(parameter("xs", [1, 2, 3]));
      },
      { result: createLocalResultBackend({ directory: dir }) },
    );
    const first = await f.run();
    assert.deepEqual(
      first.stateOf(f.outputs).children!.map((c) => c.type),
      ["Success", "Failed", "Success"],
    );
    assert.deepEqual(filesUnder(dir), [`${name}/b1/square-1-0`, `${name}/b1/square-1-2`]);
    failTwo = false;
    seen.length = 0;
    const second = await f.run();
    assert.deepEqual(
      second.stateOf(f.outputs).children!.map((c) => c.type),
      ["Cached", "Success", "Cached"],
    );
    assert.deepEqual(second.result(f.outputs), [1, 4, 9]);
    assert.deepEqual(seen, [2]);
    // Another batch parameter is another location: everything runs.
    seen.length = 0;
    await f.run({ parameters: { batch: "b2" } });
    assert.deepEqual(seen.sort(), [1, 2, 3]);
  });

  test("a target function gets the run's context", async (t) => {
    const dir = tempDir(t);
    const seen: unknown[] = [];
    const one = task("one", () => 1, {
      target: (ctx) => {
        seen.push({ slug: ctx.taskSlug, mapIndex: ctx.mapIndex, p: ctx.parameters.p });
        return `fn/${ctx.taskName}/${ctx.date.getUTCFullYear()}`;
      },
    });
    const f = flow(
      unique("target-fn"),
      () => {
        parameter("p", 7);
        return one();
      },
      { result: createLocalResultBackend({ directory: dir }) },
    );
    const run = await f.run();
    assert.equal(run.stateOf(f.outputs).location, `fn/one/${new Date().getUTCFullYear()}`);
    assert.deepEqual(seen, [{ slug: "one-1", mapIndex: undefined, p: 7 }]);
  });

  test("a target function that escapes the backend fails the task, naming the location", async (t) => {
    const dir = tempDir(t);
    const bad = task("bad", () => 1, { target: () => "../outside" });
    const f = flow(unique("target-escape"), () => bad(), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const run = await f.run();
    const state = run.stateOf(f.outputs);
    assert.equal(state.type, "Failed");
    assert.match(state.message ?? "", /cannot render the target: .*"\.\.\/outside" is not inside/);
  });

  test("template fields render in UTC, values made safe", () => {
    const ctx = {
      flowName: "f",
      flowRunId: "r",
      taskName: "t",
      taskSlug: "t-1",
      mapIndex: undefined,
      parameters: { path: "a/b", n: 3, o: { k: 1 } },
      date: new Date("2026-03-01T04:05:06Z"),
    };
    assert.equal(
      renderTarget(
        "{year}/{month}/{day}/{hour}{minute}/{yesterday}_{today}_{tomorrow}/{mapIndex}/{flowRunId}",
        ctx,
      ),
      "2026/03/01/0405/2026-02-28_2026-03-01_2026-03-02/-/r",
    );
    assert.equal(
      renderTarget("{parameters.path}-{parameters.n}-{parameters.o}", ctx),
      'a_b-3-{"k":1}',
    );
  });

  test("an unknown field is refused when the task is defined, naming the field", () => {
    assert.throws(
      () => task("x", () => 1, { target: "{flowName}/{taskname}" }),
      (e) =>
        isWeftError(e) &&
        e.code === "INVALID_TASK_OPTIONS" &&
        /unknown field \{taskname\}/.test(e.message) &&
        /\{taskName\}/.test(e.hint ?? ""),
    );
  });

  test("an undeclared parameter, or a mapped target without {mapIndex}, is refused when the flow is built", () => {
    const t1 = task("t1", (x: number) => x, { target: "{parameters.day}/{taskSlug}" });
    const noParam = flow(unique("target-no-param"), () => t1(1));
    assert.throws(
      () => noParam.build(),
      (e) =>
        isWeftError(e) &&
        /uses \{parameters\.day\}, but the flow has no parameter "day"/.test(e.message),
    );
    const t2 = task("t2", (x: number) => x, { target: "{flowName}/{taskSlug}" });
    const mapped = flow(unique("target-mapped-no-index"), () => t2.map([1, 2]));
    assert.throws(
      () => mapped.build(),
      (e) =>
        isWeftError(e) && /t2-1 is mapped but its target .* has no \{mapIndex\}/.test(e.message),
    );
  });

  test("a run without a result backend is refused", async () => {
    const t3 = task("t3", () => 1, { target: "{taskSlug}" });
    const f = flow(unique("target-no-backend"), () => t3());
    await assert.rejects(
      f.run(),
      (e) =>
        isWeftError(e) &&
        e.code === "INVALID_FLOW_OPTIONS" &&
        /task t3-1 has a target, but the run has no result backend/.test(e.message),
    );
  });
});
