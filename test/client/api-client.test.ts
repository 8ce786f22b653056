// The typed API client against a real server on an ephemeral port.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createApiClient } from "../../src/client/api-client.ts";
import { type RunningServer, startServer } from "../../src/server/server.ts";
import { serializedFlow, st } from "../server/db/store-fixtures.ts";
import { forEachDialect } from "../server/dialects.ts";
import { expectCode } from "../support/expect-code.ts";

forEachDialect("api client", (ctx) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ db: ctx.db, port: 0, tokenCacheMs: 0 });
  });
  after(async () => {
    await server?.close();
  });

  test("has one method per route of the OpenAPI document, named by its operationId", async () => {
    const api = createApiClient({ url: server.url });
    const doc = await api.openapi();
    const ids: string[] = [];
    for (const item of Object.values(
      doc.paths as Record<string, Record<string, { operationId: string }>>,
    ))
      for (const op of Object.values(item)) ids.push(op.operationId);
    assert.ok(ids.length >= 20);
    for (const id of ids)
      assert.equal(typeof (api as unknown as Record<string, unknown>)[id], "function", id);
  });

  test("round trip: flows, runs, states, task states, logs, agents, claims", async () => {
    const api = createApiClient({ url: `${server.url}/` });
    assert.deepEqual(await api.health(), { status: "ok" });
    assert.deepEqual(await api.ready(), { status: "ready" });
    const label = `c-${randomUUID()}`;
    const flow = serializedFlow({ labels: [label] });
    const registered = await api.registerFlow(flow);
    assert.equal(registered.created, true);
    assert.equal((await api.registerFlow(flow)).created, false);
    assert.equal((await api.getFlow(registered.flow.id)).flow.name, flow.name);
    assert.equal((await api.listFlows({ name: flow.name })).items.length, 1);

    const { run } = await api.createFlowRun({ flowName: flow.name, parameters: { x: 3 } });
    assert.equal(run.state.type, "Scheduled");
    assert.ok((await api.listFlowRuns({ flowName: flow.name })).items.some((r) => r.id === run.id));

    const agent = await api.registerAgent({ name: `agent-${randomUUID()}`, labels: [label] });
    assert.equal((await api.getAgent(agent.id)).id, agent.id);
    assert.ok((await api.listAgents()).some((a) => a.id === agent.id));
    assert.equal((await api.heartbeatAgent(agent.id)).id, agent.id);
    const claimed = await api.claimFlowRuns(agent.id, { limit: 10 });
    assert.deepEqual(
      claimed.map((c) => c.run.id),
      [run.id],
    );
    const running = await api.setFlowRunState(run.id, st("Running"), claimed[0]!.run.version);
    assert.equal((await api.heartbeatFlowRun(run.id)).state.type, "Running");
    const versions = await api.setTaskRunStates([
      { flowRunId: run.id, slug: "inc-1", state: st("Running"), version: 0 },
    ]);
    assert.deepEqual(versions, [1]);
    await api.ingestLogs([
      { level: "info", message: "hello", time: Date.now(), flowRunId: run.id },
    ]);
    assert.deepEqual(
      (await api.listLogs(run.id)).items.map((l) => l.message),
      ["hello"],
    );
    await api.setFlowRunState(run.id, st("Success"), running.version);
    const detail = await api.getFlowRun(run.id);
    assert.equal(detail.state.type, "Success");
    assert.deepEqual(
      detail.taskRuns.map((t) => t.slug),
      ["inc-1"],
    );

    const other = (await api.createFlowRun({ flowName: flow.name })).run;
    assert.equal((await api.cancelFlowRun(other.id)).state.type, "Cancelled");
  });

  test("an error answer becomes a WeftError with the server's code, message, hint and status", async () => {
    const api = createApiClient({ url: server.url });
    const id = randomUUID();
    const error = await expectCode(() => api.getFlowRun(id), "FLOW_RUN_NOT_FOUND", "unknown run");
    assert.ok(error.message.includes(id));
    assert.equal((error as unknown as { status: number }).status, 404);
    const stale = await expectCode(
      async () => {
        const { run } = await api.createFlowRun({
          // Labelled: an unlabelled run would be claimed by the other tests' agents.
          flowId: (await api.registerFlow(serializedFlow({ labels: [randomUUID()] }))).flow.id,
        });
        await api.setFlowRunState(run.id, st("Running"), run.version + 7);
      },
      "STALE_VERSION",
      "stale version",
    );
    assert.equal((stale as unknown as { status: number }).status, 409);
  });

  test("a claim's wait ends when its signal aborts", async () => {
    const api = createApiClient({ url: server.url });
    const agent = await api.registerAgent({
      name: `agent-${randomUUID()}`,
      labels: [randomUUID()],
    });
    const controller = new AbortController();
    const started = Date.now();
    const pending = api.claimFlowRuns(agent.id, { waitMs: 30_000, signal: controller.signal });
    await sleep(100);
    controller.abort(new Error("stopping"));
    await assert.rejects(pending, /stopping/);
    assert.ok(Date.now() - started < 5000);
  });

  test("tokens: the client sends its token; without one a closed server answers UNAUTHENTICATED", async () => {
    const open = createApiClient({ url: server.url });
    const name = `admin-${randomUUID()}`;
    const { secret } = await open.createToken({ name, scopes: ["admin"] });
    try {
      await expectCode(() => open.listFlowRuns(), "UNAUTHENTICATED", "no token");
      const admin = createApiClient({ url: server.url, token: secret });
      assert.ok((await admin.listTokens()).some((t) => t.name === name));
      const reader = await admin.createToken({ name: `read-${randomUUID()}`, scopes: ["read"] });
      const read = createApiClient({ url: server.url, token: reader.secret });
      await read.listFlowRuns();
      await expectCode(() => read.revokeToken(name), "FORBIDDEN", "read token revoking");
      await admin.revokeToken(reader.token.id);
    } finally {
      await server.db.tokens.revoke(name);
    }
    await open.listFlowRuns(); // open again: no active token left
  });
});

test("a server that is not there is API_UNREACHABLE, naming the URL", async () => {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const error = await expectCode(
    () => createApiClient({ url }).listFlowRuns(),
    "API_UNREACHABLE",
    "closed port",
  );
  assert.ok(error.message.includes(url), error.message);
  assert.match(error.hint ?? "", /weft server start/);
});

test("an answer that is not the weft API's is API_ERROR with its status", async () => {
  const other = createServer((_req, res) => {
    res.writeHead(502, { "content-type": "text/html" });
    res.end("<h1>Bad Gateway</h1>");
  });
  await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = other.address() as AddressInfo;
    const error = await expectCode(
      () => createApiClient({ url: `http://127.0.0.1:${port}` }).health(),
      "API_ERROR",
      "a proxy's error page",
    );
    assert.equal((error as unknown as { status: number }).status, 502);
    assert.match(error.message, /502/);
  } finally {
    await new Promise<void>((resolve) => other.close(() => resolve()));
  }
});
