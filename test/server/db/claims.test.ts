// Claims: one conditional update moves due Scheduled runs whose labels are all on
// the agent to Submitted; one winner per run, also across store instances.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import type { ServerDb } from "../../../src/server/db/server-db.ts";
import { expectCode } from "../../support/expect-code.ts";
import { forEachDialect } from "../dialects.ts";
import { serializedFlow } from "./store-fixtures.ts";

const PAST = "2000-01-01T00:00:00.000Z";

async function labelledRuns(store: ServerDb, labels: string[], count: number, start = PAST) {
  const flow = serializedFlow({ labels });
  await store.flows.register(flow);
  const ids: string[] = [];
  for (let i = 0; i < count; i++)
    ids.push((await store.runs.create({ flowName: flow.name, scheduledStart: start })).run.id);
  return ids;
}

forEachDialect("claims", (ctx) => {
  test("a claim moves a due run to Submitted for the agent, with what deploying needs", async () => {
    const store = await ctx.open();
    const label = `l-${randomUUID()}`;
    const flow = serializedFlow({
      labels: [label],
      storage: { type: "local", schemaVersion: 1, directory: "/srv/flows" },
      environment: { type: "subprocess", schemaVersion: 1 },
      location: "flows/abc.mjs",
    });
    await store.flows.register(flow);
    const { run } = await store.runs.create({ flowName: flow.name, scheduledStart: PAST });
    const agent = await store.agents.register({
      name: `a-${randomUUID()}`,
      labels: [label],
      concurrency: 2,
    });
    assert.equal((await store.runs.nextDue(agent.id))?.toISOString(), PAST);
    const claimed = await store.runs.claim(agent.id, 5);
    assert.equal(claimed.length, 1);
    const [c] = claimed;
    assert.equal(c?.run.id, run.id);
    assert.equal(c?.run.state.type, "Submitted");
    assert.equal(c?.run.agentId, agent.id);
    assert.equal(c?.run.claimCount, 1);
    assert.equal(c?.run.version, 2);
    assert.equal(c?.flowName, flow.name);
    assert.deepEqual(c?.storage, flow.storage);
    assert.deepEqual(c?.environment, flow.environment);
    assert.equal(c?.location, "flows/abc.mjs");
    assert.deepEqual((await store.runs.claim(agent.id, 5)).length, 0);
    const detail = await store.runs.getDetail(run.id);
    assert.deepEqual(
      detail.history.map((s) => s.type),
      ["Scheduled", "Submitted"],
    );
    assert.equal(await store.runs.nextDue(agent.id), undefined);
    await expectCode(() => store.runs.claim(randomUUID(), 1), "AGENT_NOT_FOUND", "unknown agent");
  });

  test("labels: a run is claimed only by agents carrying all of its labels", async () => {
    const store = await ctx.open();
    const gpu = `gpu-${randomUUID()}`;
    const big = `big-${randomUUID()}`;
    const [both] = await labelledRuns(store, [gpu, big], 1);
    const [onlyGpu] = await labelledRuns(store, [gpu], 1);
    const none = await store.agents.register({
      name: `n-${randomUUID()}`,
      labels: [],
      concurrency: 1,
    });
    const partial = await store.agents.register({
      name: `p-${randomUUID()}`,
      labels: [big],
      concurrency: 1,
    });
    const gpuOnly = await store.agents.register({
      name: `g-${randomUUID()}`,
      labels: [gpu],
      concurrency: 1,
    });
    const full = await store.agents.register({
      name: `f-${randomUUID()}`,
      labels: [gpu, big, "extra"],
      concurrency: 1,
    });
    assert.deepEqual(await store.runs.claim(none.id, 10), []);
    assert.deepEqual(await store.runs.claim(partial.id, 10), []);
    assert.deepEqual(
      (await store.runs.claim(gpuOnly.id, 10)).map((c) => c.run.id),
      [onlyGpu],
    );
    assert.deepEqual(
      (await store.runs.claim(full.id, 10)).map((c) => c.run.id),
      [both],
    );
    // A run without labels is claimed by any agent.
    const [plain] = await labelledRuns(store, [], 1);
    assert.deepEqual(
      (await store.runs.claim(none.id, 10)).map((c) => c.run.id),
      [plain],
    );
  });

  test("only due runs are claimed, oldest first, up to the limit", async () => {
    const store = await ctx.open();
    const label = `l-${randomUUID()}`;
    const later = new Date(Date.now() + 3_600_000).toISOString();
    const [future] = await labelledRuns(store, [label], 1, later);
    const old = await labelledRuns(store, [label], 1, "1999-01-01T00:00:00.000Z");
    const newer = await labelledRuns(store, [label], 2, PAST);
    const agent = await store.agents.register({
      name: `a-${randomUUID()}`,
      labels: [label],
      concurrency: 1,
    });
    const first = await store.runs.claim(agent.id, 2);
    // The oldest first; the two due at the same time in either order.
    assert.equal(first[0]?.run.id, old[0]);
    const second = await store.runs.claim(agent.id, 5);
    assert.equal(second.length, 1);
    assert.deepEqual([first[1]?.run.id, second[0]?.run.id].sort(), [...newer].sort());
    assert.equal((await store.runs.nextDue(agent.id))?.toISOString(), later);
    assert.ok(future);
  });

  test("one winner per run when several stores claim at once", async () => {
    const label = `race-${randomUUID()}`;
    const stores = await Promise.all([ctx.open(), ctx.open(), ctx.open(), ctx.open()]);
    const ids = await labelledRuns(stores[0]!, [label], 60);
    const agents = await Promise.all(
      stores.map((s, i) =>
        s.agents.register({ name: `race-${i}-${randomUUID()}`, labels: [label], concurrency: 1 }),
      ),
    );
    const won = new Map<string, string[]>();
    await Promise.all(
      stores.map(async (store, i) => {
        const mine: string[] = [];
        for (;;) {
          const claimed = await store.runs.claim(agents[i]!.id, 3);
          if (claimed.length === 0) break;
          mine.push(...claimed.map((c) => c.run.id));
        }
        won.set(agents[i]!.id, mine);
      }),
    );
    const all = [...won.values()].flat();
    assert.equal(all.length, ids.length, "every run claimed exactly once");
    assert.deepEqual([...new Set(all)].sort(), [...ids].sort());
    for (const [agentId, runs] of won) {
      for (const id of runs) {
        const run = await stores[0]!.runs.get(id);
        assert.equal(run.agentId, agentId);
        assert.equal(run.claimCount, 1);
      }
    }
  });

  test("claimed runs change the runs-changed listeners only on writes that make runs claimable", async () => {
    const store = await ctx.open();
    let calls = 0;
    const off = store.runs.onChanged(() => calls++);
    const label = `l-${randomUUID()}`;
    await labelledRuns(store, [label], 1);
    assert.equal(calls, 1);
    off();
    await labelledRuns(store, [label], 1);
    assert.equal(calls, 1);
  });
});
