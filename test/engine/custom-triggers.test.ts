// Trigger functions, someFailed/someSuccessful and not_all_skipped in real runs.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { threadId } from "node:worker_threads";
import {
  Fail,
  flow,
  Skip,
  someFailed,
  someSuccessful,
  type Trigger,
  task,
  type UpstreamSummary,
} from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";
import { judgedOn, triggerFlow } from "../fixtures/engine/trigger-flows.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

const ok = task("ok", (n: number) => n);
const bad = task("bad", (n: number): number => {
  throw new Fail(`bad ${n}`);
});
const skip = task("skip", (n: number): number => {
  throw new Skip(`skip ${n}`);
});
const make = { s: ok, f: bad, k: skip } as const;

/** Runs a gate with `trigger` below upstreams that succeed, fail or skip. */
async function runGate(trigger: Trigger, ups: ("s" | "f" | "k")[], skipOnUpstreamSkip = true) {
  const gate = task("gate", (...xs: unknown[]) => xs.length, { trigger, skipOnUpstreamSkip });
  const f = flow(unique("gate"), () => gate(...ups.map((u, i) => make[u](i))), {
    referenceTasks: (out) => [out],
  });
  const run = await f.run();
  return { run, gate: run.stateOf(f.outputs) };
}

describe("trigger functions", () => {
  test("are called with the upstream counts; true runs the task", async () => {
    const seen: UpstreamSummary[] = [];
    const { gate } = await runGate(
      (up) => {
        seen.push({ ...up });
        return up.successful >= 2;
      },
      ["s", "f", "s", "k"],
      false,
    );
    assert.equal(gate.type, "Success", gate.message);
    assert.deepEqual(seen, [{ total: 4, successful: 3, failed: 1, skipped: 1 }]);
  });

  test("false ends the task TriggerFailed, naming the function", async () => {
    const { run, gate } = await runGate(
      function atLeastTwo(up: UpstreamSummary) {
        return up.successful >= 2;
      },
      ["s", "f"],
    );
    assert.equal(gate.type, "TriggerFailed");
    assert.equal(
      gate.message,
      "trigger atLeastTwo returned false: 1 of 2 upstream succeeded, 1 failed",
    );
    assert.equal(run.state.type, "Failed");
  });

  test("a thrown Fail ends it TriggerFailed with that message; any other error names the function", async () => {
    const failing = await runGate(() => {
      throw new Fail("not today");
    }, ["s"]);
    assert.equal(failing.gate.type, "TriggerFailed");
    assert.equal(failing.gate.message, "not today");
    const broken = await runGate(
      function broken(): boolean {
        throw new TypeError("oops");
      },
      ["s"],
    );
    assert.equal(broken.gate.type, "TriggerFailed");
    assert.equal(broken.gate.message, "trigger broken threw: oops");
    assert.equal(broken.gate.error?.type, "TypeError");
  });

  test("a thrown Skip ends it Skipped, and its downstream with it", async () => {
    const quiet = task("quiet", (n: number) => n, {
      trigger: () => {
        throw new Skip("nothing to do");
      },
    });
    const next = task("next", (n: number) => n + 1);
    const f = flow(unique("trigger-skip"), () => next(quiet(ok(1))));
    const run = await f.run();
    assert.equal(run.stateOf("quiet-1").type, "Skipped");
    assert.equal(run.stateOf("quiet-1").message, "nothing to do");
    assert.equal(run.stateOf(f.outputs).type, "Skipped");
    assert.equal(run.state.type, "Success");
  });

  test("a promise or a non-boolean is refused: triggers answer synchronously", async () => {
    const { gate } = await runGate((async () => true) as unknown as Trigger, ["s"]);
    assert.equal(gate.type, "TriggerFailed");
    assert.match(gate.message ?? "", /returned a promise, not a boolean/);
  });

  test("run once per child of a mapped task, on that child's upstream", async () => {
    const failOdd = task("fail-odd", (x: number) => {
      if (x % 2 === 1) throw new Fail(`odd ${x}`);
      return x;
    });
    const calls: number[] = [];
    const onFailure = task("on-failure", (x: number | undefined) => `handled ${x}`, {
      trigger: (up) => {
        calls.push(up.failed);
        return up.failed === 1;
      },
    });
    const reporter = new RecordingReporter();
    const f = flow(unique("trigger-map"), () => onFailure.map(failOdd.map([0, 1, 2])));
    const run = await f.run({ reporter });
    assert.deepEqual(calls, [0, 1, 0]);
    assert.deepEqual(
      run.stateOf(f.outputs).children?.map((c) => c.type),
      ["TriggerFailed", "Success", "TriggerFailed"],
    );
    assert.deepEqual(reporter.taskTypes("on-failure-1", 1), ["Running", "Success"]);
  });
});

describe("someFailed, someSuccessful", () => {
  const cases: [string, Trigger, ("s" | "f")[], "Success" | "TriggerFailed"][] = [
    ["someFailed atLeast 1", someFailed({ atLeast: 1 }), ["s", "f", "s"], "Success"],
    ["someFailed atLeast 1", someFailed({ atLeast: 1 }), ["s", "s"], "TriggerFailed"],
    ["someFailed atMost 1", someFailed({ atMost: 1 }), ["f", "f", "s"], "TriggerFailed"],
    ["someSuccessful atLeast half", someSuccessful({ atLeast: 0.5 }), ["s", "f"], "Success"],
    [
      "someSuccessful atLeast half",
      someSuccessful({ atLeast: 0.5 }),
      ["s", "f", "f"],
      "TriggerFailed",
    ],
    [
      "someSuccessful 1..2",
      someSuccessful({ atLeast: 1, atMost: 2 }),
      ["s", "s", "s"],
      "TriggerFailed",
    ],
  ];
  for (const [label, trigger, ups, expected] of cases) {
    test(`${label} with upstream [${ups.join(", ")}] → ${expected}`, async () => {
      const { gate } = await runGate(trigger, ups);
      assert.equal(gate.type, expected, gate.message);
      if (expected === "TriggerFailed")
        assert.match(gate.message ?? "", /^trigger some_(failed|successful)\(.*\) returned false/);
    });
  }
});

describe("not_all_skipped", () => {
  test("every upstream skipped: the task is Skipped", async () => {
    const { gate } = await runGate("not_all_skipped", ["k", "k"], false);
    assert.equal(gate.type, "Skipped");
    assert.equal(gate.message, "trigger not_all_skipped: every upstream task was skipped");
  });

  test("some skipped, none failed: the task runs", async () => {
    const { gate } = await runGate("not_all_skipped", ["k", "s"], false);
    assert.equal(gate.type, "Success");
    assert.equal(gate.result, 2);
  });

  test("an upstream failed: TriggerFailed", async () => {
    const { gate } = await runGate("not_all_skipped", ["k", "f"], false);
    assert.equal(gate.type, "TriggerFailed");
  });

  test("with skipOnUpstreamSkip left on, any skipped upstream skips it first (as in Prefect)", async () => {
    const { gate } = await runGate("not_all_skipped", ["k", "s"]);
    assert.equal(gate.type, "Skipped");
    assert.equal(gate.message, "skipped because an upstream task was skipped");
  });
});

describe("trigger functions and executors on other threads", { timeout: 60_000 }, () => {
  test("worker-threads: the walk judges triggers in this thread, states equal the concurrent executor's", async () => {
    judgedOn.length = 0;
    const threaded = await triggerFlow.run({
      executor: { type: "worker-threads", maxWorkers: 1 },
    });
    assert.deepEqual(judgedOn, [threadId, threadId, threadId, threadId]);
    const inProcess = await triggerFlow.run({ executor: "concurrent" });
    const view = (run: typeof threaded) =>
      [...run.taskStates].map(([slug, s]) => [slug, s.type, s.children?.map((c) => c.type)]);
    assert.deepEqual(view(threaded), view(inProcess));
    assert.deepEqual(threaded.result(triggerFlow.outputs.recovered), [
      undefined,
      "recovered undefined",
      undefined,
      "recovered undefined",
    ]);
    assert.deepEqual(threaded.result(triggerFlow.outputs.kept), [0, undefined, 20, undefined]);
  });
});
