// The API task gate against a real server: a task whose tags have no limit costs
// no slot request; a limited one takes its slot, waits (saying why) while the
// limit is full, and gives it back; a cancel while it waits ends the wait.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { createApiClient } from "../../src/client/api-client.ts";
import { createApiTaskGate, type TaskGateApi } from "../../src/client/api-task-gate.ts";
import { type RunningServer, startServer } from "../../src/server/server.ts";
import { serializedFlow, st } from "../server/db/store-fixtures.ts";
import { forEachDialect } from "../server/dialects.ts";

forEachDialect("api task gate", (ctx) => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ db: ctx.db, port: 0, scheduler: false, runHealth: false });
  });
  after(async () => {
    await server?.close();
  });

  /** The client, counting slot requests. */
  function countingApi() {
    const api = createApiClient({ url: server.url });
    const calls = { acquire: 0, release: 0, list: 0 };
    const counted: TaskGateApi = {
      acquireTaskSlots: (...args) => {
        calls.acquire++;
        return api.acquireTaskSlots(...args);
      },
      releaseTaskSlots: (...args) => {
        calls.release++;
        return api.releaseTaskSlots(...args);
      },
      listConcurrencyLimits: () => {
        calls.list++;
        return api.listConcurrencyLimits();
      },
    };
    return { api, counted, calls };
  }

  async function runningRun(): Promise<string> {
    const api = createApiClient({ url: server.url });
    const flow = serializedFlow();
    await api.registerFlow(flow);
    const { run } = await api.createFlowRun({ flowName: flow.name });
    await api.setFlowRunState(run.id, st("Running"), run.version);
    return run.id;
  }

  test("unlimited tags cost no slot request; a limited tag waits, saying why, and is given back", async () => {
    const { api, counted, calls } = countingApi();
    const tag = `db-${randomUUID().slice(0, 8)}`;
    await api.setConcurrencyLimit(tag, 1);
    const flowRunId = await runningRun();
    const gate = createApiTaskGate({ api: counted, waitMs: 5000 });
    const signal = new AbortController().signal;
    const none = (message: string) => assert.fail(`did not wait: ${message}`);

    await gate.enter(
      { flowRunId, slug: "q", mapIndex: undefined, tags: ["queue-a"] },
      signal,
      none,
    );
    await gate.exit({ flowRunId, slug: "q", mapIndex: undefined, tags: ["queue-a"] });
    assert.deepEqual(calls, { acquire: 0, release: 0, list: 1 }, "only the list, once");

    const a = { flowRunId, slug: "a", mapIndex: 0, tags: [tag, "queue-a"] };
    const b = { flowRunId, slug: "a", mapIndex: 1, tags: [tag] };
    await gate.enter(a, signal, none);
    assert.equal((await api.listConcurrencyLimits()).find((l) => l.tag === tag)?.active, 1);
    const said: string[] = [];
    const second = gate.enter(b, signal, (m) => said.push(m));
    while (said.length === 0) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(said, [
      `waiting for a slot of concurrency limit "${tag}" (1 slot(s), all taken)`,
    ]);
    await gate.exit(a);
    await second;
    const holders = (await api.listConcurrencyLimits()).find((l) => l.tag === tag)?.holders;
    assert.deepEqual(
      holders?.map((h) => [h.taskSlug, h.mapIndex]),
      [["a", 1]],
    );
    await gate.exit(b);
    assert.equal((await api.listConcurrencyLimits()).find((l) => l.tag === tag)?.active, 0);
    assert.equal(calls.list, 1, "the list of limited tags is kept");
  });

  test("a cancel while waiting ends the wait and takes nothing", async () => {
    const { api, counted } = countingApi();
    const tag = `db-${randomUUID().slice(0, 8)}`;
    await api.setConcurrencyLimit(tag, 0);
    const flowRunId = await runningRun();
    const gate = createApiTaskGate({ api: counted, waitMs: 20_000 });
    const controller = new AbortController();
    const waiting = gate.enter(
      { flowRunId, slug: "w", mapIndex: undefined, tags: [tag] },
      controller.signal,
      () => controller.abort(new Error("cancelled by the test")),
    );
    await assert.rejects(waiting, /cancelled by the test/);
    await api.setConcurrencyLimit(tag, 1);
    assert.equal((await api.listConcurrencyLimits()).find((l) => l.tag === tag)?.active, 0);
  });
});
