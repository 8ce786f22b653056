// Every route of the API, in process on a real store (SQLite, and PostgreSQL
// when WEFT_TEST_POSTGRES_URL is set), including each bad input of issue #5.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { cronSchedule, serializedFlow, st } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { assertError, type TestApi, testApi } from "./api-fixtures.ts";

async function registered(api: TestApi, overrides = {}) {
  const flow = serializedFlow(overrides);
  const answer = await api.call("POST", "/api/flows", { flow });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return { flow, summary: answer.body.flow };
}

async function newRun(api: TestApi, flowName: string, extra: Record<string, unknown> = {}) {
  const answer = await api.call("POST", "/api/flow-runs", { flowName, ...extra });
  assert.equal(answer.status, 201, JSON.stringify(answer.body));
  return answer.body.run;
}

forEachDialect("api routes", (ctx) => {
  test("health and readiness answer without a token", async () => {
    const api = testApi(await ctx.open(), { auth: { allowOpen: false } });
    assert.deepEqual(await api.call("GET", "/api/health"), { status: 200, body: { status: "ok" } });
    assert.deepEqual(await api.call("GET", "/api/ready"), {
      status: 200,
      body: { status: "ready" },
    });
  });

  test("registering a flow: 201 new, 200 the same content again, readable by id and listed", async () => {
    const api = testApi(await ctx.open());
    const { flow, summary } = await registered(api);
    assert.equal(summary.version, 1);
    const again = await api.call("POST", "/api/flows", { flow });
    assert.equal(again.status, 200);
    assert.equal(again.body.created, false);
    assert.equal(again.body.flow.id, summary.id);
    const detail = await api.call("GET", `/api/flows/${summary.id}`);
    assert.equal(detail.status, 200);
    assert.equal(detail.body.flow.name, flow.name);
    const list = await api.call("GET", `/api/flows?name=${encodeURIComponent(flow.name)}`);
    assert.equal(list.status, 200);
    assert.deepEqual(
      list.body.items.map((f: { id: string }) => f.id),
      [summary.id],
    );
  });

  test("malformed JSON is 400 INVALID_REQUEST and writes nothing", async () => {
    const api = testApi(await ctx.open());
    const name = `flow-${randomUUID()}`;
    const answer = await api.call("POST", "/api/flows", `{"flow": {"name": "${name}", `);
    assertError(answer, 400, "INVALID_REQUEST", ["not valid JSON"]);
    const list = await api.call("GET", `/api/flows?name=${name}`);
    assert.deepEqual(list.body.items, []);
  });

  test("a schema violation is 400 naming the field path and the value", async () => {
    const api = testApi(await ctx.open());
    const { summary } = await registered(api);
    const run = await newRun(api, summary.name);
    const answer = await api.call("POST", "/api/task-run-states", {
      states: [
        { flowRunId: run.id, slug: "inc-1", state: st("Running"), version: 0 },
        { flowRunId: run.id, slug: "inc-1", state: st("Running"), version: -3 },
      ],
    });
    assertError(answer, 400, "INVALID_REQUEST", ["states[1].version", "-3"]);
    const badQuery = await api.call("GET", "/api/flow-runs?limit=banana");
    assertError(badQuery, 400, "INVALID_REQUEST", ["query", "limit", "banana"]);
    const unknownField = await api.call("POST", "/api/agents", { name: "a", colour: "blue" });
    assertError(unknownField, 400, "INVALID_REQUEST", ["colour"]);
  });

  test("an invalid cron expression in a registered flow's schedule is 400 naming it", async () => {
    const api = testApi(await ctx.open());
    const flow = serializedFlow({ schedule: cronSchedule("61 * * * *") });
    const answer = await api.call("POST", "/api/flows", { flow });
    assertError(answer, 400, "INVALID_SCHEDULE", ["flow.schedule.expression", "61 * * * *"]);
    const zone = await api.call("POST", "/api/flows", {
      flow: serializedFlow({ schedule: cronSchedule("0 2 * * *", "Mars/Olympus") }),
    });
    assertError(zone, 400, "INVALID_SCHEDULE", ["Mars/Olympus"]);
    const list = await api.call("GET", `/api/flows?name=${flow.name}`);
    assert.deepEqual(list.body.items, [], "nothing registered");
  });

  test("a credential in a flow's storage is refused (400), naming the field", async () => {
    const api = testApi(await ctx.open());
    const flow = serializedFlow({
      storage: { type: "s3", schemaVersion: 1, bucket: "b", secretAccessKey: "hunter2" },
    });
    const answer = await api.call("POST", "/api/flows", { flow });
    const message = assertError(answer, 400, "CREDENTIAL_IN_CONFIG", ["storage.secretAccessKey"]);
    assert.ok(!message.includes("hunter2"), "the value is never echoed");
  });

  test("unknown ids are 404 with the code of what is missing", async () => {
    const api = testApi(await ctx.open());
    const id = randomUUID();
    const cases: [string, string, string][] = [
      ["GET", `/api/flows/${id}`, "FLOW_NOT_FOUND"],
      ["GET", `/api/flow-runs/${id}`, "FLOW_RUN_NOT_FOUND"],
      ["GET", `/api/flow-runs/${id}/logs`, "FLOW_RUN_NOT_FOUND"],
      ["POST", `/api/flow-runs/${id}/cancel`, "FLOW_RUN_NOT_FOUND"],
      ["POST", `/api/flow-runs/${id}/heartbeat`, "FLOW_RUN_NOT_FOUND"],
      ["GET", `/api/agents/${id}`, "AGENT_NOT_FOUND"],
      ["POST", `/api/agents/${id}/heartbeat`, "AGENT_NOT_FOUND"],
      ["POST", `/api/agents/${id}/claim`, "AGENT_NOT_FOUND"],
      ["POST", `/api/tokens/${id}/revoke`, "TOKEN_NOT_FOUND"],
    ];
    for (const [method, path, code] of cases) {
      assertError(await api.call(method, path), 404, code, [id]);
    }
    assertError(
      await api.call("POST", `/api/flow-runs/${id}/state`, { state: st("Running"), version: 1 }),
      404,
      "FLOW_RUN_NOT_FOUND",
    );
    assertError(
      await api.call("POST", "/api/flow-runs", { flowName: `flow-${id}` }),
      404,
      "FLOW_NOT_FOUND",
    );
  });

  test("an unknown route is 404 ROUTE_NOT_FOUND", async () => {
    const api = testApi(await ctx.open());
    assertError(await api.call("GET", "/api/nothing-here"), 404, "ROUTE_NOT_FOUND", [
      "/api/nothing-here",
    ]);
    assertError(await api.call("DELETE", "/api/flows"), 404, "ROUTE_NOT_FOUND");
  });

  test("flow runs: create, read with history, state writes carry the version; stale and invalid are 409", async () => {
    const api = testApi(await ctx.open());
    const { summary } = await registered(api);
    const run = await newRun(api, summary.name, { parameters: { x: 5 } });
    assert.equal(run.state.type, "Scheduled");
    assert.deepEqual(run.parameters, { x: 5 });

    const running = await api.call("POST", `/api/flow-runs/${run.id}/state`, {
      state: st("Running"),
      version: run.version,
    });
    assert.equal(running.status, 200, JSON.stringify(running.body));
    assert.equal(running.body.state.type, "Running");
    assert.equal(running.body.version, run.version + 1);

    const stale = await api.call("POST", `/api/flow-runs/${run.id}/state`, {
      state: st("Success"),
      version: run.version,
    });
    assertError(stale, 409, "STALE_VERSION");

    const done = await api.call("POST", `/api/flow-runs/${run.id}/state`, {
      state: st("Success"),
      version: running.body.version,
    });
    assert.equal(done.status, 200);
    const invalid = await api.call("POST", `/api/flow-runs/${run.id}/state`, {
      state: st("Running"),
      version: done.body.version,
    });
    assertError(invalid, 409, "INVALID_TRANSITION", ["Success"]);
    assertError(
      await api.call("POST", `/api/flow-runs/${run.id}/cancel`),
      409,
      "INVALID_TRANSITION",
    );

    const detail = await api.call("GET", `/api/flow-runs/${run.id}`);
    assert.equal(detail.status, 200);
    assert.deepEqual(
      detail.body.history.map((s: { type: string }) => s.type),
      ["Scheduled", "Running", "Success"],
    );
    const listed = await api.call("GET", `/api/flow-runs?flowId=${summary.id}&state=Success`);
    assert.deepEqual(
      listed.body.items.map((r: { id: string }) => r.id),
      [run.id],
    );
  });

  test("a run's detail with include=flow carries its flow version, as GET /api/flows/:id answers it", async () => {
    const api = testApi(await ctx.open());
    const { summary } = await registered(api);
    const run = await newRun(api, summary.name);
    const plain = await api.call("GET", `/api/flow-runs/${run.id}`);
    assert.equal(plain.status, 200);
    assert.equal("flow" in plain.body, false, "no flow unless asked");
    const both = await api.call("GET", `/api/flow-runs/${run.id}?include=flow`);
    assert.equal(both.status, 200, JSON.stringify(both.body));
    const { flow, ...detail } = both.body;
    assert.deepEqual(detail, plain.body);
    assert.deepEqual(flow, (await api.call("GET", `/api/flows/${summary.id}`)).body);
    assert.ok(flow.flow.tasks.length > 0, "the graph is there");
    assertError(
      await api.call("GET", `/api/flow-runs/${run.id}?include=logs`),
      400,
      "INVALID_REQUEST",
      ["include"],
    );
  });

  test("parameters are checked against the flow's (400 naming the parameter)", async () => {
    const api = testApi(await ctx.open());
    const { summary } = await registered(api);
    const answer = await api.call("POST", "/api/flow-runs", {
      flowName: summary.name,
      parameters: { x: "five" },
    });
    assertError(answer, 400, "INVALID_PARAMETER", ['"x"']);
    const both = await api.call("POST", "/api/flow-runs", {
      flowName: summary.name,
      flowId: summary.id,
    });
    assertError(both, 400, "INVALID_REQUEST", ["flowId", "exactly one"]);
  });

  test("an idempotency key returns the first run (200); other parameters with it are 409", async () => {
    const api = testApi(await ctx.open());
    const { summary } = await registered(api);
    const key = randomUUID();
    const first = await newRun(api, summary.name, { idempotencyKey: key, parameters: { x: 2 } });
    const again = await api.call("POST", "/api/flow-runs", {
      flowName: summary.name,
      idempotencyKey: key,
      parameters: { x: 2 },
    });
    assert.equal(again.status, 200);
    assert.equal(again.body.created, false);
    assert.equal(again.body.run.id, first.id);
    const conflict = await api.call("POST", "/api/flow-runs", {
      flowName: summary.name,
      idempotencyKey: key,
      parameters: { x: 3 },
    });
    assertError(conflict, 409, "IDEMPOTENCY_CONFLICT");
  });

  test("cancel: a scheduled run becomes Cancelled; heartbeats answer the state", async () => {
    const api = testApi(await ctx.open());
    const { summary } = await registered(api);
    const run = await newRun(api, summary.name);
    const beat = await api.call("POST", `/api/flow-runs/${run.id}/heartbeat`);
    assert.equal(beat.status, 200);
    assert.equal(beat.body.state.type, "Scheduled");
    const cancelled = await api.call("POST", `/api/flow-runs/${run.id}/cancel`);
    assert.equal(cancelled.status, 200);
    assert.equal(cancelled.body.state.type, "Cancelled");
  });

  test("task-run states in a batch apply all or none", async () => {
    const store = await ctx.open();
    const api = testApi(store);
    const { summary } = await registered(api);
    const run = await newRun(api, summary.name);
    const ok = await api.call("POST", "/api/task-run-states", {
      states: [
        { flowRunId: run.id, slug: "x", state: st("Success"), version: 0 },
        { flowRunId: run.id, slug: "inc-1", state: st("Running"), version: 0 },
      ],
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.versions, [1, 1]);
    const mixed = await api.call("POST", "/api/task-run-states", {
      states: [
        { flowRunId: run.id, slug: "inc-1", state: st("Success"), version: 1 },
        { flowRunId: run.id, slug: "x", state: st("Running"), version: 1 },
      ],
    });
    assertError(mixed, 409, "INVALID_TRANSITION");
    const tasks = await store.taskRuns.list(run.id);
    const inc = tasks.find((t) => t.slug === "inc-1");
    assert.equal(inc?.state.type, "Running", "the valid first write was not applied either");
    assert.equal(inc?.version, 1);
  });

  test("logs: a batch is stored and read back in pages, oldest first", async () => {
    const api = testApi(await ctx.open());
    const { summary } = await registered(api);
    const run = await newRun(api, summary.name);
    const logs = Array.from({ length: 7 }, (_, i) => ({
      level: "info",
      message: `line ${i}`,
      time: Date.now() + i,
      flowRunId: run.id,
      taskSlug: "inc-1",
    }));
    const ingest = await api.call("POST", "/api/logs", { logs });
    assert.deepEqual(ingest, { status: 200, body: { count: 7 } });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await api.call(
        "GET",
        `/api/flow-runs/${run.id}/logs?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      assert.equal(page.status, 200, JSON.stringify(page.body));
      seen.push(...page.body.items.map((l: { message: string }) => l.message));
      cursor = page.body.nextCursor;
    } while (cursor !== undefined);
    assert.deepEqual(
      seen,
      logs.map((l) => l.message),
    );
  });

  test("agents: register, heartbeat, list, claim a due run with matching labels", async () => {
    const api = testApi(await ctx.open());
    const label = `l-${randomUUID()}`;
    const { summary } = await registered(api, { labels: [label] });
    const agent = await api.call("POST", "/api/agents", {
      name: `agent-${randomUUID()}`,
      labels: [],
    });
    assert.equal(agent.status, 200);
    const fit = await api.call("POST", "/api/agents", {
      name: `agent-${randomUUID()}`,
      labels: [label],
    });
    const run = await newRun(api, summary.name);
    // Other tests of this suite leave unlabelled runs behind, which any agent may take.
    const ids = (answer: { body: { runs: { run: { id: string } }[] } }) =>
      answer.body.runs.map((c) => c.run.id);
    const unfit = await api.call("POST", `/api/agents/${agent.body.id}/claim`, { limit: 100 });
    assert.equal(unfit.status, 200, JSON.stringify(unfit.body));
    assert.ok(!ids(unfit).includes(run.id), "an agent without the flow's label does not get it");
    const claimed = await api.call("POST", `/api/agents/${fit.body.id}/claim`, { limit: 100 });
    assert.equal(claimed.status, 200, JSON.stringify(claimed.body));
    const mine = claimed.body.runs.find((c: { run: { id: string } }) => c.run.id === run.id);
    assert.ok(mine, `the agent with the label claims the run: ${JSON.stringify(ids(claimed))}`);
    assert.equal(mine.run.state.type, "Submitted");
    assert.equal(mine.run.agentId, fit.body.id);
    const beat = await api.call("POST", `/api/agents/${fit.body.id}/heartbeat`);
    assert.equal(beat.status, 200);
    const list = await api.call("GET", "/api/agents");
    assert.ok(list.body.items.some((a: { id: string }) => a.id === fit.body.id));
  });

  test("an oversize body is 413 BODY_TOO_LARGE, with or without a Content-Length", async () => {
    const store = await ctx.open();
    const api = testApi(store, { bodyLimitBytes: 1000 });
    const name = `agent-${randomUUID()}`;
    const big = { name, labels: Array.from({ length: 100 }, (_, i) => `label-${i}`) };
    assertError(await api.call("POST", "/api/agents", big), 413, "BODY_TOO_LARGE", ["1000 bytes"]);
    // A streamed body has no Content-Length: the limit counts what arrives.
    const bytes = new TextEncoder().encode(JSON.stringify(big));
    const res = await api.app.request("/api/agents", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(controller) {
          controller.enqueue(bytes.subarray(0, 600));
          controller.enqueue(bytes.subarray(600));
          controller.close();
        },
      }),
      duplex: "half", // Node's Request needs it for a stream body
    });
    assertError({ status: res.status, body: await res.json() }, 413, "BODY_TOO_LARGE");
    assert.ok(!(await store.agents.list()).some((a) => a.name === name), "nothing was written");
    const small = await api.call("POST", "/api/agents", { name });
    assert.equal(small.status, 200, "a body under the limit passes");
  });

  test("tokens: create (201, secret once), list without secrets, revoke by name", async () => {
    const api = testApi(await ctx.open());
    const name = `t-${randomUUID()}`;
    const created = await api.call("POST", "/api/tokens", { name, scopes: ["read"] });
    assert.equal(created.status, 201);
    assert.equal(typeof created.body.secret, "string");
    const list = await api.call("GET", "/api/tokens");
    assert.ok(!JSON.stringify(list.body).includes(created.body.secret));
    const revoked = await api.call("POST", `/api/tokens/${name}/revoke`);
    assert.equal(revoked.status, 200);
    assert.ok(revoked.body.revokedAt);
  });
});
