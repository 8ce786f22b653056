// Long-poll claims: a waiting agent gets a run as soon as it is created or falls
// due, and the wait ends when the client goes away.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { serializedFlow } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { testApi } from "./api-fixtures.ts";

forEachDialect("api claims", (ctx) => {
  async function setup() {
    const store = await ctx.open();
    const api = testApi(store);
    // A label of its own, so that no other test's run matches this agent.
    const label = `claim-${randomUUID()}`;
    const flow = serializedFlow({ labels: [label] });
    const { flow: summary } = await store.flows.register(flow);
    const agent = await store.agents.register({
      name: `agent-${randomUUID()}`,
      labels: [label],
      concurrency: 1,
    });
    return { store, api, summary, agent };
  }

  test("a waiting claim returns as soon as a run is created", async () => {
    const { store, api, summary, agent } = await setup();
    const started = Date.now();
    const claim = api.call("POST", `/api/agents/${agent.id}/claim`, { waitMs: 10_000 });
    await sleep(200);
    const { run } = await store.runs.create({ flowId: summary.id });
    const answer = await claim;
    const took = Date.now() - started;
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.deepEqual(
      answer.body.runs.map((c: { run: { id: string } }) => c.run.id),
      [run.id],
    );
    assert.ok(took < 5000, `answered at once, not at the end of the wait (${took} ms)`);
  });

  test("a waiting claim returns when a scheduled run falls due", async () => {
    const { store, api, summary, agent } = await setup();
    const due = new Date(Date.now() + 600);
    const { run } = await store.runs.create({
      flowId: summary.id,
      scheduledStart: due.toISOString(),
    });
    const answer = await api.call("POST", `/api/agents/${agent.id}/claim`, { waitMs: 10_000 });
    const late = Date.now() - due.getTime();
    assert.deepEqual(
      answer.body.runs.map((c: { run: { id: string } }) => c.run.id),
      [run.id],
    );
    assert.ok(late >= 0, "not before it is due");
    assert.ok(late < 5000, `soon after it is due (${late} ms)`);
  });

  test("with nothing due the claim waits waitMs and answers no runs", async () => {
    const { api, agent } = await setup();
    const started = Date.now();
    const answer = await api.call("POST", `/api/agents/${agent.id}/claim`, { waitMs: 300 });
    assert.deepEqual(answer.body, { runs: [] });
    assert.ok(Date.now() - started >= 290, "it waited");
  });

  test("the wait ends when the request is aborted", async () => {
    const { api, agent } = await setup();
    const controller = new AbortController();
    const started = Date.now();
    const pending = api.app.request(
      new Request(`http://localhost/api/agents/${agent.id}/claim`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ waitMs: 30_000 }),
        signal: controller.signal,
      }),
    );
    await sleep(100);
    controller.abort();
    const res = await pending;
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { runs: [] });
    assert.ok(Date.now() - started < 5000, "did not wait the 30 s");
  });

  test("a run created as the waiting client goes away is not claimed for it", async () => {
    const { store, agent, summary } = await setup();
    const { claimWithWait } = await import("../../../src/server/api/claim-wait.ts");
    const controller = new AbortController();
    const waiting = claimWithWait(store, agent.id, 1, 30_000, controller.signal);
    // Once the claim waits (as in the tests above), a run is made and the client goes in the
    // same tick: both wake the wait, which must then claim nothing.
    await sleep(200);
    const { run } = await store.runs.create({ flowId: summary.id });
    controller.abort();
    assert.deepEqual(await waiting, []);
    assert.equal((await store.runs.get(run.id)).state.type, "Scheduled", "nobody holds it");
  });
});
