// startServer: the token rule, the port, and a graceful close that ends waiting claims.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { createApiClient } from "../../../src/client/api-client.ts";
import { isLoopbackHost, startServer } from "../../../src/server/server.ts";
import { expectCode } from "../../support/expect-code.ts";
import { serializedFlow } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";

test("loopback hosts", () => {
  for (const host of ["127.0.0.1", "127.1.2.3", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"])
    assert.equal(isLoopbackHost(host), true, host);
  for (const host of ["0.0.0.0", "::", "10.0.0.1", "example.com", "128.0.0.1"])
    assert.equal(isLoopbackHost(host), false, host);
});

forEachDialect("startServer", (ctx) => {
  test("a non-loopback host without a token is TOKEN_REQUIRED; with one it serves, and only with it", async () => {
    const error = await expectCode(
      () => startServer({ db: ctx.db, host: "0.0.0.0", port: 0 }),
      "TOKEN_REQUIRED",
      "0.0.0.0 without a token",
    );
    assert.match(error.hint ?? "", /weft token create --name .* --scope admin/);

    const store = await ctx.open();
    const name = `admin-${randomUUID()}`;
    const { secret } = await store.tokens.create({ name, scopes: ["admin"] });
    const server = await startServer({ db: ctx.db, host: "0.0.0.0", port: 0 });
    try {
      assert.equal(server.open, false);
      const url = `http://127.0.0.1:${server.port}`;
      await expectCode(() => createApiClient({ url }).listFlows(), "UNAUTHENTICATED", "no token");
      await createApiClient({ url, token: secret }).listFlows();
      // Even with every token revoked, a non-loopback server never opens.
      await store.tokens.revoke(name);
      await expectCode(
        () => createApiClient({ url }).listFlows(),
        "UNAUTHENTICATED",
        "no token left",
      );
    } finally {
      await server.close();
    }
  });

  test("a port in use is refused, naming it", async () => {
    const first = await startServer({ db: ctx.db, port: 0 });
    try {
      const error = await expectCode(
        () => startServer({ db: ctx.db, port: first.port }),
        "INVALID_ARGUMENT",
        "port in use",
      );
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${first.port}.*already in use`));
    } finally {
      await first.close();
    }
  });

  test("the server runs the scheduler: a registered schedule gets its runs (and none with scheduler: false)", async () => {
    const schedule = { schemaVersion: 1, type: "interval", every: 60_000 } as const;
    const off = await startServer({ db: ctx.db, port: 0, scheduler: false });
    try {
      const api = createApiClient({ url: off.url });
      // Labelled, so that the other tests' agents (no labels) cannot claim its runs as they fall due.
      const { flow } = await api.registerFlow(
        serializedFlow({ schedule, labels: ["scheduler-test"] }),
      );
      await new Promise((resolve) => setTimeout(resolve, 400));
      assert.deepEqual((await api.listFlowRuns({ flowId: flow.id })).items, []);
    } finally {
      await off.close();
    }
    const server = await startServer({
      db: ctx.db,
      port: 0,
      scheduler: { intervalMs: 100, horizon: 3 },
    });
    try {
      const api = createApiClient({ url: server.url });
      // Labelled, so that the other tests' agents (no labels) cannot claim its runs as they fall due.
      const { flow } = await api.registerFlow(
        serializedFlow({ schedule, labels: ["scheduler-test"] }),
      );
      let runs = (await api.listFlowRuns({ flowId: flow.id })).items;
      for (let waited = 0; runs.length < 3 && waited < 10_000; waited += 100) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        runs = (await api.listFlowRuns({ flowId: flow.id })).items;
      }
      assert.equal(runs.length, 3, "the next 3 runs exist");
      assert.ok(runs.every((r) => r.autoScheduled && r.state.type === "Scheduled"));
    } finally {
      await server.close();
    }
  });

  test("close() ends waiting claims at once and is idempotent", async () => {
    const server = await startServer({ db: ctx.db, port: 0 });
    const api = createApiClient({ url: server.url });
    const agent = await api.registerAgent({ name: `a-${randomUUID()}`, labels: [randomUUID()] });
    const waiting = api.claimFlowRuns(agent.id, { waitMs: 60_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    await Promise.all([server.close(), server.close()]);
    assert.deepEqual(await waiting, [], "the waiting claim was answered (with nothing)");
    assert.ok(Date.now() - started < 4000, `closed promptly (${Date.now() - started} ms)`);
    await expectCode(() => api.health(), "API_UNREACHABLE", "after close");
  });
});
