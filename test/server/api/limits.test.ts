// The concurrency-limit routes on a real database: scopes (read lists, admin sets
// and deletes, agent acquires and releases), the long poll that answers as soon
// as a slot frees, and the OpenAPI entries.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import type { TokenScope } from "../../../src/serialization/api-schemas.ts";
import type { ServerDb } from "../../../src/server/db/server-db.ts";
import { serializedFlow, st } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { assertError, testApi } from "./api-fixtures.ts";

async function token(store: ServerDb, scope: TokenScope): Promise<string> {
  return (await store.tokens.create({ name: `${scope}-${randomUUID()}`, scopes: [scope] })).secret;
}
const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

async function runningRun(store: ServerDb): Promise<string> {
  const flow = serializedFlow();
  await store.flows.register(flow);
  const { run } = await store.runs.create({ flowName: flow.name });
  await store.runs.setState(run.id, st("Running"), run.version);
  return run.id;
}

forEachDialect("api concurrency limits", (ctx) => {
  test("admin sets and deletes, read lists, agent acquires and releases; less is 403", async () => {
    const store = await ctx.open();
    const api = testApi(store, { auth: { allowOpen: false } });
    const [read, agent, admin] = await Promise.all([
      token(store, "read"),
      token(store, "agent"),
      token(store, "admin"),
    ]);
    const tag = `db-${randomUUID().slice(0, 8)}`;
    assertError(
      await api.call("POST", "/api/limits", { tag, limit: 1 }, bearer(agent)),
      403,
      "FORBIDDEN",
      ["needs admin"],
    );
    const set = await api.call("POST", "/api/limits", { tag, limit: 1 }, bearer(admin));
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.equal(set.body.limit, 1);
    assertError(
      await api.call("POST", "/api/limits", { tag, limit: -1 }, bearer(admin)),
      400,
      "INVALID_REQUEST",
    );
    const listed = await api.call("GET", "/api/limits", undefined, bearer(read));
    assert.ok(listed.body.items.some((l: { tag: string }) => l.tag === tag));

    const runId = await runningRun(store);
    const path = `/api/flow-runs/${runId}/slots`;
    assertError(
      await api.call("POST", `${path}/acquire`, { slug: "a", tags: [tag] }, bearer(read)),
      403,
      "FORBIDDEN",
    );
    const first = await api.call(
      "POST",
      `${path}/acquire`,
      { slug: "a", tags: [tag] },
      bearer(agent),
    );
    assert.deepEqual(first.body, { acquired: true });
    const second = await api.call(
      "POST",
      `${path}/acquire`,
      { slug: "b", tags: [tag] },
      bearer(agent),
    );
    assert.deepEqual(second.body, { acquired: false, waitingFor: { tag, limit: 1, active: 1 } });
    const holders = (await api.call("GET", "/api/limits", undefined, bearer(read))).body.items.find(
      (l: { tag: string }) => l.tag === tag,
    ).holders;
    assert.deepEqual(
      holders.map((h: { flowRunId: string; taskSlug: string }) => [h.flowRunId, h.taskSlug]),
      [[runId, "a"]],
    );
    const released = await api.call("POST", `${path}/release`, { slug: "a" }, bearer(agent));
    assert.deepEqual(released.body, { released: 1 });

    assertError(
      await api.call("POST", "/api/limits/delete", { tag }, bearer(read)),
      403,
      "FORBIDDEN",
    );
    assert.equal(
      (await api.call("POST", "/api/limits/delete", { tag }, bearer(admin))).body.tag,
      tag,
    );
    assertError(
      await api.call("POST", "/api/limits/delete", { tag }, bearer(admin)),
      404,
      "LIMIT_NOT_FOUND",
      [tag],
    );
  });

  test("a waiting acquisition answers as soon as the slot is released, not at the end of its wait", async () => {
    const store = await ctx.open();
    // Other tests of this database made tokens: it is closed, so this one uses one too.
    const app = testApi(store, { auth: { allowOpen: false } });
    const agent = bearer(await token(store, "agent"));
    const api = { call: (m: string, p: string, b?: unknown) => app.call(m, p, b, agent) };
    const tag = `db-${randomUUID().slice(0, 8)}`;
    await store.limits.set(tag, 1);
    const runId = await runningRun(store);
    const path = `/api/flow-runs/${runId}/slots`;
    assert.equal(
      (await api.call("POST", `${path}/acquire`, { slug: "a", tags: [tag] })).body.acquired,
      true,
    );
    const started = Date.now();
    const waiting = api.call("POST", `${path}/acquire`, { slug: "b", tags: [tag], waitMs: 20_000 });
    await new Promise((r) => setTimeout(r, 100));
    await api.call("POST", `${path}/release`, { slug: "a" });
    const answer = await waiting;
    assert.deepEqual(answer.body, { acquired: true });
    assert.ok(Date.now() - started < 5000, `answered after ${Date.now() - started} ms`);
    // A full limit answers at the end of the wait, naming the limit.
    const full = await api.call("POST", `${path}/acquire`, { slug: "c", tags: [tag], waitMs: 300 });
    assert.deepEqual(full.body, { acquired: false, waitingFor: { tag, limit: 1, active: 1 } });
  });

  test("the OpenAPI document lists the routes", async () => {
    const store = await ctx.open();
    const doc = (await testApi(store).call("GET", "/api/openapi.json")).body;
    for (const path of [
      "/api/limits",
      "/api/limits/delete",
      "/api/flow-runs/{id}/slots/acquire",
      "/api/flow-runs/{id}/slots/release",
    ])
      assert.ok(doc.paths[path] !== undefined, `${path} in ${Object.keys(doc.paths).join(", ")}`);
  });
});
