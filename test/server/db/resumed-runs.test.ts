// Resuming a run in the database (RunRepository.resume, run-resume.ts) on each
// dialect: migration 0006's columns hold `resumedFrom` and `approved`, a Paused
// original ends Cancelled in the same write, approvals add up, and each refusal.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { WeftError } from "../../../src/core/errors.ts";
import type { StateType } from "../../../src/core/states.ts";
import type { ServerDb } from "../../../src/server/db/server-db.ts";
import { expectCode } from "../../support/expect-code.ts";
import { forEachDialect } from "../dialects.ts";
import { serializedFlow, st } from "./store-fixtures.ts";

/** A persisted-results flow (local backend, default template) registered with one run moved through `states`. */
async function runIn(store: ServerDb, states: StateType[], persisted = true) {
  const flow = serializedFlow({
    labels: ["l"],
    ...(persisted
      ? {
          result: {
            type: "local",
            schemaVersion: 1,
            directory: "/tmp/r",
            template: "{flowSlug}/{taskSlug}/{mapIndex}/{flowRunId}",
          },
        }
      : {}),
  });
  await store.flows.register(flow);
  let { run } = await store.runs.create({
    flowName: flow.name,
    parameters: { x: 7 },
    labels: ["m"],
  });
  for (const type of states) run = await store.runs.setState(run.id, st(type), run.version);
  return run;
}

forEachDialect("resumed runs", (ctx) => {
  test("a failed run resumes as a new Scheduled run of the same flow version, parameters and labels", async () => {
    const store = await ctx.open();
    const failed = await runIn(store, ["Running", "Failed"]);
    const resumed = await store.runs.resume(failed.id, []);
    assert.notEqual(resumed.id, failed.id);
    assert.equal(resumed.resumedFrom, failed.id);
    assert.equal(resumed.approved, undefined);
    assert.equal(resumed.flowId, failed.flowId);
    assert.deepEqual(resumed.parameters, { x: 7 });
    assert.deepEqual(resumed.labels, ["l", "m"]);
    assert.equal(resumed.state.type, "Scheduled");
    assert.equal(resumed.parentRunId, undefined);
    // Read back from the database (the new columns), and claimable like any run.
    const read = await store.runs.get(resumed.id);
    assert.equal(read.resumedFrom, failed.id);
    const agent = await store.agents.register({
      name: `a-${resumed.id}`,
      labels: ["l", "m"],
      concurrency: 1,
    });
    const claimed = await store.runs.claim(agent.id, 10);
    assert.ok(claimed.some((c) => c.run.id === resumed.id && c.run.resumedFrom === failed.id));
    assert.equal((await store.runs.get(failed.id)).state.type, "Failed", "the original stays");
  });

  test("approving a Paused run ends it Cancelled, naming the new run; approvals add up along resumes", async () => {
    const store = await ctx.open();
    const paused = await runIn(store, ["Running", "Paused"]);
    const second = await store.runs.resume(paused.id, ["inc-1", "inc-1"]);
    assert.deepEqual(second.approved, ["inc-1"]);
    const original = await store.runs.getDetail(paused.id);
    assert.equal(original.state.type, "Cancelled");
    assert.equal(original.state.message, `resumed as flow run ${second.id}`);
    assert.deepEqual(
      original.history.map((s) => s.type),
      ["Scheduled", "Running", "Paused", "Cancelled"],
    );
    let run = second;
    for (const type of ["Running", "Paused"] as const)
      run = await store.runs.setState(run.id, st(type), run.version);
    const third = await store.runs.resume(run.id, ["x"]);
    assert.deepEqual(third.approved, ["inc-1", "x"]);
    assert.equal(third.resumedFrom, second.id);
  });

  test("refusals: not finished, an unknown task, nothing persisted to resume from, an unknown run", async () => {
    const store = await ctx.open();
    const running = await runIn(store, ["Running"]);
    const notFinished = await expectCode(
      () => store.runs.resume(running.id, []),
      "INVALID_TRANSITION",
      "a Running run",
    );
    assert.match(notFinished.message, /it is Running; only a finished or Paused run can/);
    const failed = await runIn(store, ["Running", "Failed"]);
    const unknown = await expectCode(
      () => store.runs.resume(failed.id, ["inc-1", "nope-1"]),
      "UNKNOWN_TASK",
      "an unknown slug",
    );
    assert.deepEqual((unknown as WeftError).details, { task: "nope-1" });
    const plain = await runIn(store, ["Running", "Failed"], false);
    await expectCode(() => store.runs.resume(plain.id, []), "RESULT_NOT_PERSISTED", "no results");
    assert.deepEqual((await store.runs.resume(plain.id, ["inc-1"])).approved, ["inc-1"]);
    await expectCode(
      () => store.runs.resume("00000000-0000-4000-8000-000000000000", []),
      "FLOW_RUN_NOT_FOUND",
      "an unknown run",
    );
  });
});
