// Writes of many runs in one transaction (runs.writeBatch): each write applied whole
// or refused alone, so one stale run never fails the runs batched beside it; claims
// of many runs across labels keep one winner and carry what earlier claims recorded.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import type { RunWrite } from "../../../src/serialization/api-schemas.ts";
import { statusOfCode } from "../../../src/server/api/errors.ts";
import type { ServerDb } from "../../../src/server/db/server-db.ts";
import { forEachDialect } from "../dialects.ts";
import { serializedFlow, st } from "./store-fixtures.ts";

/** `count` due runs of a flow carrying `labels`, claimed (Submitted) by one agent carrying them. */
async function claimedRuns(store: ServerDb, count: number, labels = [`l-${randomUUID()}`]) {
  const flow = serializedFlow({ labels });
  await store.flows.register(flow);
  for (let i = 0; i < count; i++)
    await store.runs.create({ flowName: flow.name, scheduledStart: "2000-01-01T00:00:00.000Z" });
  const agent = await store.agents.register({ name: `a-${randomUUID()}`, labels, concurrency: 9 });
  const claimed = await store.runs.claim(agent.id, count);
  assert.equal(claimed.length, count);
  return { claimed, agentId: agent.id };
}

forEachDialect("run writes", (ctx) => {
  test("a batch applies every run's flow state, task states and logs, each with its result", async () => {
    const store = await ctx.open();
    const { claimed } = await claimedRuns(store, 3);
    const writes: RunWrite[] = claimed.flatMap(({ run }): RunWrite[] => [
      { kind: "flowRunState", flowRunId: run.id, state: st("Running"), version: run.version },
      {
        kind: "taskRunStates",
        states: [
          { flowRunId: run.id, slug: "inc-1", state: st("Running"), version: 0, claim: 1 },
          { flowRunId: run.id, slug: "inc-1", state: st("Success"), version: 1, claim: 1 },
        ],
      },
      { kind: "logs", logs: [{ flowRunId: run.id, level: "info", time: 1, message: "hi" }] },
    ]);
    const results = await store.runs.writeBatch(writes, statusOfCode);
    assert.deepEqual(
      results,
      claimed.flatMap(({ run }) => [
        { ok: true, version: run.version + 1 },
        { ok: true, versions: [1, 2] },
        { ok: true, count: 1 },
      ]),
    );
    for (const { run } of claimed) {
      const detail = await store.runs.getDetail(run.id);
      assert.equal(detail.state.type, "Running");
      assert.deepEqual(
        detail.taskRuns.map((t) => [t.slug, t.state.type, t.version]),
        [["inc-1", "Success", 2]],
      );
      assert.deepEqual(
        (await store.logs.list(run.id, { limit: 10 })).items.map((l) => l.message),
        ["hi"],
      );
    }
  });

  test("a stale or invalid write fails alone: the runs beside it are written, its own is not", async () => {
    const store = await ctx.open();
    const { claimed } = await claimedRuns(store, 3);
    const [a, b, c] = claimed.map((r) => r.run);
    const running = st("Running");
    const results = await store.runs.writeBatch(
      [
        { kind: "flowRunState", flowRunId: a!.id, state: running, version: a!.version },
        // Stale: the run is at a later version (its claim bumped it).
        { kind: "flowRunState", flowRunId: b!.id, state: st("Running"), version: 1 },
        // Task states of one write stay all or none: the second is stale, so neither is written.
        {
          kind: "taskRunStates",
          states: [
            { flowRunId: c!.id, slug: "inc-1", state: st("Running"), version: 0 },
            { flowRunId: c!.id, slug: "other-1", state: st("Running"), version: 3 },
          ],
        },
        { kind: "logs", logs: [{ flowRunId: randomUUID(), level: "info", time: 1, message: "x" }] },
        // A later write of a run whose earlier write in the batch was refused is not applied.
        { kind: "flowRunState", flowRunId: c!.id, state: st("Running"), version: c!.version },
      ],
      statusOfCode,
    );
    assert.deepEqual(results[0], { ok: true, version: a!.version + 1 });
    assert.equal(results[1]!.ok, false);
    assert.deepEqual(
      results.map((r) => (r.ok ? "ok" : `${r.error.code} ${r.status}`)),
      [
        "ok",
        "STALE_VERSION 409",
        "STALE_VERSION 409",
        "FLOW_RUN_NOT_FOUND 404",
        "RUN_WRITE_SKIPPED 409",
      ],
    );
    assert.equal((await store.runs.get(a!.id)).state.type, "Running");
    assert.equal((await store.runs.get(b!.id)).state.type, "Submitted");
    assert.equal((await store.runs.get(c!.id)).state.type, "Submitted");
    assert.deepEqual((await store.runs.getDetail(c!.id)).taskRuns, []);
    // The applied write sent again (a retried batch) is a repeat: accepted, nothing changes.
    const again = await store.runs.writeBatch(
      [{ kind: "flowRunState", flowRunId: a!.id, state: running, version: a!.version }],
      statusOfCode,
    );
    assert.deepEqual(again, [{ ok: true, version: a!.version + 1 }]);
  });

  test("a run's writes in one batch apply in order, each only if the one before it was taken", async () => {
    const store = await ctx.open();
    const { claimed } = await claimedRuns(store, 2);
    const [a, b] = claimed.map((r) => r.run);
    const life = (run: typeof a, version: number): RunWrite[] => [
      { kind: "flowRunState", flowRunId: run!.id, state: st("Running"), version },
      {
        kind: "taskRunStates",
        states: [{ flowRunId: run!.id, slug: "inc-1", state: st("Success"), version: 0 }],
      },
      { kind: "flowRunState", flowRunId: run!.id, state: st("Success"), version: version + 1 },
    ];
    // b's Running is stale: its task state and final state are skipped, not applied.
    const results = await store.runs.writeBatch(
      [...life(a, a!.version), ...life(b, b!.version - 1)],
      statusOfCode,
    );
    assert.deepEqual(
      results.map((r) => (r.ok ? "ok" : r.error.code)),
      ["ok", "ok", "ok", "STALE_VERSION", "RUN_WRITE_SKIPPED", "RUN_WRITE_SKIPPED"],
    );
    const doneA = await store.runs.getDetail(a!.id);
    assert.deepEqual(
      doneA.history.map((s) => s.type),
      ["Scheduled", "Submitted", "Running", "Success"],
    );
    assert.deepEqual(
      doneA.taskRuns.map((t) => t.state.type),
      ["Success"],
    );
    const leftB = await store.runs.getDetail(b!.id);
    assert.equal(leftB.state.type, "Submitted");
    assert.deepEqual(leftB.taskRuns, []);
  });

  test("an agent heartbeat with run states beats for every run it holds and answers only the cancelled one", async () => {
    const store = await ctx.open();
    const { claimed, agentId } = await claimedRuns(store, 3);
    const [a, b, c] = claimed.map((r) => r.run);
    const started = await store.runs.writeBatch(
      [a!, b!, c!].map((r) => ({
        kind: "flowRunState" as const,
        flowRunId: r.id,
        state: st("Running"),
        version: r.version,
      })),
      statusOfCode,
    );
    assert.ok(started.every((r) => r.ok));
    const cancelling = await store.runs.cancel(b!.id);
    assert.equal(cancelling.state.type, "Cancelling");
    const before = (await store.runs.get(a!.id)).heartbeatAt;
    const answer = await store.agents.heartbeat(agentId, {
      holding: [a!.id, b!.id, c!.id],
      claimedBefore: new Date(0),
      runStates: true,
    });
    assert.deepEqual(
      answer.cancelling?.map((r) => [r.id, r.state.type, r.version]),
      [[b!.id, "Cancelling", cancelling.version]],
    );
    for (const r of [a!, c!]) {
      const after = await store.runs.get(r.id);
      assert.equal(after.state.type, "Running", "the others go on");
      assert.ok(after.heartbeatAt !== undefined && after.heartbeatAt >= before!, "and beat");
    }
    // Without `runStates` the answer is the agent alone, as before.
    const plain = await store.agents.heartbeat(agentId, {
      holding: [b!.id],
      claimedBefore: new Date(0),
    });
    assert.equal(plain.cancelling, undefined);
  });

  test("a claim of many runs across labels gives each to one agent and carries earlier task runs", async () => {
    const store = await ctx.open();
    const red = `red-${randomUUID()}`;
    const blue = `blue-${randomUUID()}`;
    const flows = [serializedFlow({ labels: [red] }), serializedFlow({ labels: [blue] })];
    for (const f of flows) await store.flows.register(f);
    for (let i = 0; i < 6; i++)
      await store.runs.create({
        flowName: flows[i % 2]!.name,
        scheduledStart: "2000-01-01T00:00:00.000Z",
      });
    const both = await store.agents.register({
      name: `b-${randomUUID()}`,
      labels: [red, blue],
      concurrency: 9,
    });
    const onlyRed = await store.agents.register({
      name: `r-${randomUUID()}`,
      labels: [red],
      concurrency: 9,
    });
    const [x, y] = await Promise.all([
      store.runs.claim(both.id, 10),
      store.runs.claim(onlyRed.id, 10),
    ]);
    const ids = [...x!, ...y!].map((c) => c.run.id);
    assert.equal(new Set(ids).size, ids.length, "no run claimed twice");
    assert.equal(ids.length, 6, "every run claimed once by one of them");
    for (const c of y!) assert.equal(c.flowName, flows[0]!.name, "only red runs to the red agent");
    for (const c of [...x!, ...y!])
      assert.deepEqual(c.taskRuns, [], "a first claim: nothing earlier");

    // A run that ran a task, then was put back (rescheduled): its next claim carries that task run.
    const first = x![0]!;
    const running = await store.runs.setState(first.run.id, st("Running"), first.run.version);
    await store.taskRuns.setStates([
      { flowRunId: first.run.id, slug: "inc-1", state: st("Success"), version: 0, claim: 1 },
    ]);
    await store.runs.setState(first.run.id, st("Scheduled"), running.version);
    const again = await store.runs.claim(both.id, 10);
    const reclaimed = again.find((c) => c.run.id === first.run.id)!;
    assert.equal(reclaimed.run.claimCount, 2);
    assert.deepEqual(
      reclaimed.taskRuns!.map((t) => [t.slug, t.state.type, t.version]),
      [["inc-1", "Success", 1]],
    );
  });
});
