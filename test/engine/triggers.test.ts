import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { Fail, flow, parameter, type TriggerName, task } from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

const ok = task("ok", (n: number) => n);
const bad = task("bad", (n: number): number => {
  throw new Fail(`bad ${n}`);
});
const gate = (trigger: TriggerName) => task("gate", (...xs: unknown[]) => xs, { trigger });

/** Runs a gate with `trigger` below upstreams that succeed ("s") or fail ("f"). */
async function runGate(trigger: TriggerName, upstreams: ("s" | "f")[]) {
  const g = gate(trigger);
  const f = flow(
    unique(`trigger-${trigger}`),
    () => g(...upstreams.map((u, i) => (u === "s" ? ok(i) : bad(i)))),
    { referenceTasks: (out) => [out] },
  );
  const run = await f.run();
  return { run, gate: run.stateOf(f.outputs) };
}

describe("triggers in a run", () => {
  const cases: [TriggerName, ("s" | "f")[], "Success" | "TriggerFailed"][] = [
    ["all_successful", ["s", "s"], "Success"],
    ["all_successful", ["s", "f"], "TriggerFailed"],
    ["all_failed", ["f", "f"], "Success"],
    ["all_failed", ["s", "f"], "TriggerFailed"],
    ["any_successful", ["s", "f"], "Success"],
    ["any_successful", ["f", "f"], "TriggerFailed"],
    ["any_failed", ["s", "f"], "Success"],
    ["any_failed", ["s", "s"], "TriggerFailed"],
    ["all_finished", ["f", "f"], "Success"],
    ["all_finished", ["s", "f"], "Success"],
    ["always_run", ["f", "f"], "Success"],
    ["always_run", ["s", "s"], "Success"],
  ];
  for (const [trigger, ups, expected] of cases) {
    test(`${trigger} with upstream [${ups.join(", ")}] → ${expected}`, async () => {
      const { run, gate } = await runGate(trigger, ups);
      assert.equal(gate.type, expected, gate.message);
      if (expected === "TriggerFailed") {
        assert.match(gate.message ?? "", new RegExp(`trigger ${trigger} not met`));
        assert.equal(run.state.type, "Failed");
      } else {
        // The gate ran and got its inputs (undefined for failed upstreams).
        assert.deepEqual(
          gate.result,
          ups.map((u, i) => (u === "s" ? i : undefined)),
        );
        assert.equal(run.state.type, "Success");
      }
    });
  }

  test("a cleanup task with all_finished runs after a failure; the flow still fails on the failed task", async () => {
    const cleanup = task("cleanup", (_: unknown) => "cleaned", { trigger: "all_finished" });
    const f = flow(
      unique("cleanup"),
      () => {
        const work = bad(1);
        return { work, done: cleanup(work) };
      },
      { referenceTasks: (o) => [o.work, o.done] },
    );
    const run = await f.run();
    assert.equal(run.result(f.outputs.done), "cleaned");
    assert.equal(run.state.type, "Failed");
  });

  test("a TriggerFailed upstream counts as failed for the next trigger", async () => {
    const onFailure = task("alert", (_: unknown) => "alerted", { trigger: "any_failed" });
    const f = flow(unique("trigger-chain"), () => onFailure(ok.with({})(bad(1))));
    const run = await f.run();
    assert.equal(run.stateOf("ok-1").type, "TriggerFailed");
    assert.equal(run.result(f.outputs), "alerted");
    assert.equal(run.state.type, "Success");
  });
});

describe("manual_only", () => {
  const approveMe = task("publish", (n: number) => `published ${n}`, { trigger: "manual_only" });
  const after = task("announce", (s: string) => `${s}!`);
  const manual = flow(unique("manual"), () => {
    const n = ok(parameter("n", 1));
    const published = approveMe(n);
    return after(published);
  });

  test("pauses the task without approval; downstream waits and the flow is Paused", async () => {
    const reporter = new RecordingReporter();
    const run = await manual.run({ reporter });
    const paused = run.stateOf("publish-1");
    assert.equal(paused.type, "Paused");
    assert.match(paused.message ?? "", /approve publish-1/);
    assert.equal(run.stateOf("announce-1").type, "Pending");
    assert.equal(run.stateOf("ok-1").type, "Success");
    assert.equal(run.state.type, "Paused");
    assert.deepEqual(reporter.taskTypes("publish-1"), ["Paused"]);
    assert.deepEqual(reporter.taskTypes("announce-1"), []);
    assert.deepEqual(reporter.flowTypes(), ["Running", "Paused"]);
  });

  test("runs when the run approves its slug", async () => {
    const run = await manual.run({ approve: ["publish-1"], parameters: { n: 4 } });
    assert.equal(run.stateOf("publish-1").type, "Success");
    assert.equal(run.result(manual.outputs), "published 4!");
    assert.equal(run.state.type, "Success");
  });

  test("pauses even with no upstream", async () => {
    const lone = flow(unique("manual-lone"), () => approveMe(3));
    assert.equal((await lone.run()).stateOf("publish-1").type, "Paused");
    assert.equal((await lone.run({ approve: ["publish-1"] })).result(lone.outputs), "published 3");
  });
});
