// The task-run batch: versioned writes applied all or none, repeats accepted,
// transitions checked, claims fenced.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import type { TaskRunStateWrite } from "../../../src/serialization/api-schemas.ts";
import type { ServerDb } from "../../../src/server/db/server-db.ts";
import { expectCode } from "../../support/expect-code.ts";
import { forEachDialect } from "../dialects.ts";
import { serializedFlow, st } from "./store-fixtures.ts";

async function newRun(store: ServerDb): Promise<string> {
  const flow = serializedFlow();
  await store.flows.register(flow);
  return (await store.runs.create({ flowName: flow.name })).run.id;
}

/**
 * A run due long ago with a label of its own, and an agent carrying that label:
 * the agent's claim takes this run, whatever else the database holds.
 */
async function labelledRun(store: ServerDb) {
  const label = `only-${randomUUID()}`;
  const flow = serializedFlow({ labels: [label] });
  await store.flows.register(flow);
  const { run } = await store.runs.create({
    flowName: flow.name,
    scheduledStart: "2000-01-01T00:00:00.000Z",
  });
  const agent = await store.agents.register({
    name: `agent-${randomUUID()}`,
    labels: [label],
    concurrency: 1,
  });
  return { run, agentId: agent.id };
}

forEachDialect("task runs", (ctx) => {
  test("a batch creates and advances task runs, mapped children apart, in order", async () => {
    const store = await ctx.open();
    const run = await newRun(store);
    const t0 = new Date("2030-01-01T00:00:00.000Z");
    const t1 = new Date("2030-01-01T00:00:01.000Z");
    const versions = await store.taskRuns.setStates([
      { flowRunId: run, slug: "inc-1", state: st("Running", t0), version: 0 },
      {
        flowRunId: run,
        slug: "inc-1",
        state: st("Success", t1, { result: 2, attempts: 1 }),
        version: 1,
        resultRef: "r/inc-1",
      },
      { flowRunId: run, slug: "map-1", mapIndex: 0, state: st("Running", t0), version: 0 },
      { flowRunId: run, slug: "map-1", mapIndex: 1, state: st("Skipped", t0), version: 0 },
      { flowRunId: run, slug: "map-1", state: st("Mapped", t1, { children: 2 }), version: 0 },
    ]);
    assert.deepEqual(versions, [1, 2, 1, 1, 1]);
    const runs = await store.taskRuns.list(run);
    const inc = runs.find((r) => r.slug === "inc-1")!;
    assert.equal(inc.state.type, "Success");
    assert.equal(inc.version, 2);
    assert.equal(inc.attempts, 1);
    assert.equal(inc.startTime, t0.toISOString());
    assert.equal(inc.endTime, t1.toISOString());
    assert.equal(inc.resultRef, "r/inc-1");
    assert.deepEqual(inc.state.result, 2);
    const map = runs.filter((r) => r.slug === "map-1");
    assert.deepEqual(
      map.map((r) => [r.mapIndex, r.state.type]),
      [
        [undefined, "Mapped"],
        [0, "Running"],
        [1, "Skipped"],
      ],
    );
    const detail = await store.runs.getDetail(run);
    assert.equal(detail.taskRuns.length, 4);
  });

  test("a retried batch is accepted again without effect, also when it holds a sequence", async () => {
    const store = await ctx.open();
    const run = await newRun(store);
    const batch: TaskRunStateWrite[] = [
      { flowRunId: run, slug: "a-1", state: st("Running", "2030-01-01T00:00:00.000Z"), version: 0 },
      { flowRunId: run, slug: "a-1", state: st("Success", "2030-01-01T00:00:01.000Z"), version: 1 },
      { flowRunId: run, slug: "b-1", state: st("Running", "2030-01-01T00:00:00.000Z"), version: 0 },
    ];
    assert.deepEqual(await store.taskRuns.setStates(batch), [1, 2, 1]);
    assert.deepEqual(await store.taskRuns.setStates(JSON.parse(JSON.stringify(batch))), [1, 2, 1]);
    const runs = await store.taskRuns.list(run);
    assert.deepEqual(
      runs.map((r) => [r.slug, r.version]),
      [
        ["a-1", 2],
        ["b-1", 1],
      ],
    );
    // Same version, other state: stale, naming the task run and both versions.
    const stale = await expectCode(
      () =>
        store.taskRuns.setStates([
          {
            flowRunId: run,
            slug: "a-1",
            state: st("Failed", "2030-01-01T00:00:02.000Z"),
            version: 1,
          },
        ]),
      "STALE_VERSION",
      "stale task-run write",
    );
    assert.match(stale.message, /a-1/);
    assert.match(stale.message, new RegExp(run));
    await expectCode(
      () =>
        store.taskRuns.setStates([
          { flowRunId: run, slug: "b-1", state: st("Success"), version: 5 },
        ]),
      "STALE_VERSION",
      "a version from the future",
    );
    await expectCode(
      () =>
        store.taskRuns.setStates([
          { flowRunId: run, slug: "new-1", state: st("Success"), version: 1 },
        ]),
      "STALE_VERSION",
      "a version for a task run that does not exist",
    );
  });

  test("a history grown over several batches answers repeats of each of its versions", async () => {
    const store = await ctx.open();
    const run = await newRun(store);
    const running = st("Running", "2030-01-01T00:00:00.000Z", { attempts: 1 });
    const retrying = st("Retrying", "2030-01-01T00:00:01.000Z");
    const success = st("Success", "2030-01-01T00:00:02.000Z", { attempts: 2 });
    const w = (state: typeof running, version: number): TaskRunStateWrite => ({
      flowRunId: run,
      slug: "h-1",
      mapIndex: 3,
      state,
      version,
    });
    // Version 1 alone, then 2 and 3 in one batch: the stored history is spliced, not rewritten.
    assert.deepEqual(await store.taskRuns.setStates([w(running, 0)]), [1]);
    assert.deepEqual(await store.taskRuns.setStates([w(retrying, 1)]), [2]);
    // A repeat of a stored version, a new version, and a repeat of the version just added.
    assert.deepEqual(
      await store.taskRuns.setStates([w(running, 0), w(success, 2), w(success, 2)]),
      [1, 3, 3],
    );
    assert.deepEqual(
      await store.taskRuns.setStates([w(retrying, 1), w(running, 0), w(success, 2)]),
      [2, 1, 3],
    );
    const [row] = await store.taskRuns.list(run);
    assert.equal(row?.version, 3);
    assert.equal(row?.state.type, "Success");
    assert.equal(row?.startTime, "2030-01-01T00:00:00.000Z");
    assert.equal(row?.endTime, "2030-01-01T00:00:02.000Z");
    // Each stored version is what a repeat is compared with: another state there is stale.
    for (const [state, version] of [
      [success, 0],
      [running, 1],
      [retrying, 2],
    ] as const) {
      const stale = await expectCode(
        () => store.taskRuns.setStates([w(state, version)]),
        "STALE_VERSION",
        `another state at version ${version + 1}`,
      );
      assert.match(stale.message, new RegExp(`version ${version + 1} holds another state`));
    }
  });

  test("one bad write in a batch leaves nothing written", async () => {
    const store = await ctx.open();
    const run = await newRun(store);
    await store.taskRuns.setStates([
      { flowRunId: run, slug: "done-1", state: st("Success"), version: 0 },
    ]);
    const good = Array.from(
      { length: 300 },
      (_, i): TaskRunStateWrite => ({
        flowRunId: run,
        slug: `t-${i}`,
        state: st("Running"),
        version: 0,
      }),
    );
    await expectCode(
      () =>
        store.taskRuns.setStates([
          ...good,
          { flowRunId: run, slug: "done-1", state: st("Running"), version: 1 },
        ]),
      "INVALID_TRANSITION",
      "Running after Success in a batch",
    );
    await expectCode(
      () =>
        store.taskRuns.setStates([
          ...good,
          { flowRunId: randomUUID(), slug: "x", state: st("Running"), version: 0 },
        ]),
      "FLOW_RUN_NOT_FOUND",
      "a write for an unknown flow run",
    );
    const runs = await store.taskRuns.list(run);
    assert.deepEqual(
      runs.map((r) => r.slug),
      ["done-1"],
    );
    const detail = await store.runs.getDetail(run);
    assert.equal(detail.taskRuns.length, 1);
  });

  test("every transition rule holds for task runs too", async () => {
    const store = await ctx.open();
    const run = await newRun(store);
    await store.taskRuns.setStates([
      { flowRunId: run, slug: "s", state: st("Pending"), version: 0 },
    ]);
    await expectCode(
      () =>
        store.taskRuns.setStates([
          { flowRunId: run, slug: "s", state: st("Cancelling"), version: 1 },
        ]),
      "INVALID_TRANSITION",
      "Pending → Cancelling",
    );
    await expectCode(
      () =>
        store.taskRuns.setStates([
          { flowRunId: run, slug: "s", state: st("Submitted"), version: 1 },
        ]),
      "INVALID_TRANSITION",
      "Pending → Submitted",
    );
    assert.deepEqual(
      await store.taskRuns.setStates([
        { flowRunId: run, slug: "s", state: st("Running"), version: 1 },
        { flowRunId: run, slug: "s", state: st("Retrying"), version: 2 },
        { flowRunId: run, slug: "s", state: st("Running"), version: 3 },
        { flowRunId: run, slug: "s", state: st("Failed"), version: 4 },
      ]),
      [2, 3, 4, 5],
    );
  });

  test("a write naming an old claim of its flow run is refused", async () => {
    const store = await ctx.open();
    const { run, agentId } = await labelledRun(store);
    const [claimed] = await store.runs.claim(agentId, 1);
    assert.equal(claimed?.run.id, run.id);
    assert.equal(claimed?.run.claimCount, 1);
    await store.taskRuns.setStates([
      { flowRunId: run.id, slug: "a", state: st("Running"), version: 0, claim: 1 },
    ]);
    await expectCode(
      () =>
        store.taskRuns.setStates([
          { flowRunId: run.id, slug: "b", state: st("Running"), version: 0, claim: 2 },
        ]),
      "STALE_VERSION",
      "a claim that is not the run's",
    );
  });

  test("a run claimed again may start again a task run that failed, never one that succeeded", async () => {
    const store = await ctx.open();
    const { run, agentId } = await labelledRun(store);
    const [first] = await store.runs.claim(agentId, 1);
    assert.equal(first?.run.claimCount, 1);
    await store.taskRuns.setStates([
      { flowRunId: run.id, slug: "ok", state: st("Running"), version: 0, claim: 1 },
      { flowRunId: run.id, slug: "bad", state: st("Running"), version: 0, claim: 1 },
      { flowRunId: run.id, slug: "ok", state: st("Success"), version: 1, claim: 1 },
      { flowRunId: run.id, slug: "bad", state: st("Failed"), version: 1, claim: 1 },
    ]);
    await expectCode(
      () =>
        store.taskRuns.setStates([
          { flowRunId: run.id, slug: "bad", state: st("Running"), version: 2, claim: 1 },
        ]),
      "INVALID_TRANSITION",
      "within one claim a failed task run stays failed",
    );
    // Rescheduled (as run health does after a crash) and claimed again.
    await store.runs.setState(run.id, st("Scheduled"), first!.run.version);
    const [second] = await store.runs.claim(agentId, 1);
    assert.equal(second?.run.claimCount, 2);
    const [v] = await store.taskRuns.setStates([
      { flowRunId: run.id, slug: "bad", state: st("Running"), version: 2, claim: 2 },
    ]);
    assert.equal(v, 3);
    await expectCode(
      () =>
        store.taskRuns.setStates([
          { flowRunId: run.id, slug: "ok", state: st("Running"), version: 2, claim: 2 },
        ]),
      "INVALID_TRANSITION",
      "a task run that succeeded is read back, not run again",
    );
  });

  test("a large batch (more rows than one statement may carry parameters for) is written whole", async () => {
    const store = await ctx.open();
    const run = await newRun(store);
    const writes = Array.from(
      { length: 10_000 },
      (_, i): TaskRunStateWrite => ({
        flowRunId: run,
        slug: "big",
        mapIndex: i,
        state: st("Success"),
        version: 0,
      }),
    );
    const versions = await store.taskRuns.setStates(writes);
    assert.equal(versions.length, 10_000);
    assert.equal((await store.taskRuns.list(run)).length, 10_000);
  });
});
