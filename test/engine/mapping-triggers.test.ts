// A mapped task's trigger and skip are judged child by child (Prefect's
// meaning): child i sees the unmapped upstreams plus child i of each mapped
// upstream, and every child ends in its own state.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import {
  Fail,
  flow,
  merge,
  Skip,
  type TriggerName,
  task,
  unmapped,
  when,
} from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

const inc = task("inc", (x: number) => x + 1);
const brokenConfig = task("broken-config", (): string => {
  throw new Error("no config file");
});
const goodConfig = task("good-config", () => "cfg");
const skippedConfig = task("skipped-config", (): string => {
  throw new Skip("no config today");
});
const failOdd = task("fail-odd", (x: number) => {
  if (x % 2 === 1) throw new Fail(`odd ${x}`);
  return x;
});
const fallback = (trigger: TriggerName) =>
  task("fallback", (x: number, _c: string) => x ?? -1, { trigger });

describe("a mapped task's trigger, child by child", () => {
  test("any_successful with a broken unmapped config: both children run (the issue's reproduction)", async () => {
    const fb = fallback("any_successful");
    const f = flow(unique("repro"), () => ({
      r: fb.map(inc.map([1, 2]), unmapped(brokenConfig())),
    }));
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter });
    const parent = run.stateOf(f.outputs.r);
    assert.equal(parent.type, "Mapped", parent.message);
    assert.deepEqual(run.result(f.outputs.r), [2, 3]);
    assert.equal(run.state.type, "Success", run.state.message);
    assert.deepEqual(reporter.taskTypes("fallback-1", 0), ["Running", "Success"]);
    assert.deepEqual(reporter.taskTypes("fallback-1"), ["Mapped"]);
  });

  test("any_failed: exactly the children whose upstream child failed run", async () => {
    const seen: number[] = [];
    const onFail = task(
      "on-fail",
      (x: number | undefined, c: string) => {
        seen.push(x === undefined ? -1 : x);
        return `${c}:${x}`;
      },
      { trigger: "any_failed" },
    );
    const f = flow(unique("any-failed"), () =>
      onFail.map(failOdd.map([0, 1, 2, 3]), unmapped(goodConfig())),
    );
    const run = await f.run();
    const children = run.stateOf(f.outputs).children ?? [];
    assert.deepEqual(
      children.map((c) => c.type),
      ["TriggerFailed", "Success", "TriggerFailed", "Success"],
    );
    assert.equal(seen.length, 2, "two children ran");
    assert.deepEqual(
      children.map((c) => c.result),
      [undefined, "cfg:undefined", undefined, "cfg:undefined"],
    );
    assert.match(
      children[0]?.message ?? "",
      /trigger any_failed not met: 2 of 2 upstream succeeded/,
    );
  });

  for (const trigger of ["all_successful", "all_failed"] as const) {
    test(`${trigger}: N TriggerFailed children under a Mapped parent, each with its own state`, async () => {
      const fb = fallback(trigger);
      const f = flow(unique(trigger), () => fb.map(inc.map([1, 2, 3]), unmapped(brokenConfig())));
      const reporter = new RecordingReporter();
      const run = await f.run({ reporter });
      const parent = run.stateOf(f.outputs);
      assert.equal(parent.type, "Mapped");
      assert.deepEqual(
        parent.children?.map((c) => c.type),
        ["TriggerFailed", "TriggerFailed", "TriggerFailed"],
      );
      assert.match(parent.children?.[1]?.message ?? "", new RegExp(`trigger ${trigger} not met`));
      for (const i of [0, 1, 2])
        assert.deepEqual(reporter.taskTypes("fallback-1", i), ["TriggerFailed"]);
      assert.equal(run.state.type, "Failed");
      assert.match(run.state.message ?? "", /fallback-1/);
    });
  }

  test("a child is judged on child i of a mapped upstream plus every unmapped upstream", async () => {
    const both = task("both", (x: number, c: string) => `${c}${x}`);
    const f = flow(unique("per-child"), () =>
      both.map(failOdd.map([0, 1, 2]), unmapped(goodConfig())),
    );
    const run = await f.run();
    assert.deepEqual(
      run.stateOf(f.outputs).children?.map((c) => c.type),
      ["Success", "TriggerFailed", "Success"],
    );
    assert.deepEqual(run.result(f.outputs), ["cfg0", undefined, "cfg2"]);
  });

  test("an unmapped upstream that was skipped skips the mapped task whole (skipOnUpstreamSkip)", async () => {
    const use = task("use", (x: number, c: string) => `${c}${x}`);
    const f = flow(unique("skip-whole"), () => ({
      skipped: use.map([1, 2], unmapped(skippedConfig())),
      kept: use.with({ skipOnUpstreamSkip: false }).map([1, 2], unmapped(skippedConfig())),
    }));
    const run = await f.run();
    const skipped = run.stateOf(f.outputs.skipped);
    assert.equal(skipped.type, "Skipped");
    assert.equal(skipped.children, undefined);
    assert.deepEqual(run.result(f.outputs.kept), ["undefined1", "undefined2"]);
    assert.equal(run.state.type, "Success");
  });

  test("a skipped child of a mapped upstream skips only the child in line with it", async () => {
    const skipEven = task("skip-even", (x: number) => {
      if (x % 2 === 0) throw new Skip(`even ${x}`);
      return x;
    });
    const use = task("use", (x: number, c: string) => `${c}${x}`, { trigger: "any_successful" });
    const f = flow(unique("skip-child"), () =>
      use.map(skipEven.map([1, 2, 3]), unmapped(brokenConfig())),
    );
    const run = await f.run();
    assert.deepEqual(
      run.stateOf(f.outputs).children?.map((c) => c.type),
      ["Success", "Skipped", "Success"],
    );
  });

  test("a mapped task in a when() branch not taken is Skipped whole, so merge() passes over it", async () => {
    const f = flow(unique("when-map"), () => {
      const flag = goodConfig();
      const yes = when(flag, "cfg", () => inc.map([1, 2]));
      const no = when(flag, "other", () => inc.map([10, 20]));
      return merge(no, yes);
    });
    const run = await f.run();
    assert.equal(run.stateOf("inc-2").type, "Skipped");
    assert.deepEqual(run.result(f.outputs), [2, 3]);
  });

  test("the list's own upstream failed: judged whole (TriggerFailed), or Failed with nothing to map over", async () => {
    const list = task("list", (): number[] => {
      throw new Error("no list");
    });
    const f = flow(unique("listless"), () => {
      const xs = list();
      return {
        strict: inc.map(xs),
        lenient: inc.with({ trigger: "all_finished" }).map(xs),
      };
    });
    const run = await f.run();
    const strict = run.stateOf(f.outputs.strict);
    assert.equal(strict.type, "TriggerFailed");
    assert.equal(strict.children, undefined);
    const lenient = run.stateOf(f.outputs.lenient);
    assert.equal(lenient.type, "Failed");
    assert.equal(lenient.error?.type, "MapError");
    assert.match(
      lenient.message ?? "",
      /inc\.map\(\) has nothing to map over: list-1 ended Failed/,
    );
  });

  test("a mapped upstream whose every child failed still lines up: children judged one by one", async () => {
    const onFail = task("on-fail", (_x: number) => "handled", { trigger: "any_failed" });
    const f = flow(unique("all-failed-children"), () => onFail.map(failOdd.map([1, 3])));
    const run = await f.run();
    assert.deepEqual(run.result(f.outputs), ["handled", "handled"]);
    assert.equal(run.state.type, "Success");
  });

  test("manual_only on a mapped task still waits for one approval of its slug", async () => {
    const publish = task("publish", (x: number) => x, { trigger: "manual_only" });
    const f = flow(unique("manual-map"), () => publish.map(inc.map([1, 2])));
    const paused = await f.run();
    assert.equal(paused.stateOf(f.outputs).type, "Paused");
    assert.equal(paused.state.type, "Paused");
    const approved = await f.run({ approve: ["publish-1"] });
    assert.deepEqual(approved.result(f.outputs), [2, 3]);
  });

  test("an approved manual_only mapped task still judges each child on its own upstream child", async () => {
    const skipEven = task("skip-even", (x: number) => {
      if (x % 2 === 0) throw new Skip(`even ${x}`);
      return x;
    });
    const publish = task("publish", (x: number) => x, { trigger: "manual_only" });
    const f = flow(unique("manual-map-skip"), () => publish.map(skipEven.map([1, 2, 3])));
    const run = await f.run({ approve: ["publish-1"] });
    assert.deepEqual(
      run.stateOf(f.outputs).children?.map((c) => c.type),
      ["Success", "Skipped", "Success"],
    );
  });
});
