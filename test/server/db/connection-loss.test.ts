// PostgreSQL connections cut under load (a network failure, a database restart):
// the real `weft server start` process, its store reaching PostgreSQL through a
// TCP proxy on loopback that the test cuts while clients write, read and claim.
// The server must keep running, answer 503 DATABASE_UNAVAILABLE (with
// Retry-After, never 500) while the database is gone, and serve again by itself
// once it is back. SQLite has no connection to cut: nothing to test there.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, test } from "node:test";
import { openServerDb } from "../../../src/server/db/open-server-db.ts";
import { startTcpProxy, type TcpProxy } from "../../support/tcp-proxy.ts";
import {
  describeOutput,
  isAlive,
  reapAll,
  startWeft,
  type WeftProcess,
  waitUntil,
} from "../../support/weft-process.ts";
import { createSchema, dropSchema, POSTGRES_URL, withSearchPath } from "../dialects.ts";
import { serializedFlow } from "./store-fixtures.ts";

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  reapAll();
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** Answers seen by the load, by kind. */
interface Tally {
  ok: number;
  unavailable: number;
  other: string[];
}

/**
 * Clients hammering the server until stopped: each worker creates a run, reads
 * it, lists runs and claims as an agent, in a loop. Every answer is tallied:
 * 2xx, 503 DATABASE_UNAVAILABLE with Retry-After, or anything else (a failure).
 */
function startLoad(url: string, flowName: string, agentId: string, workers: number) {
  const tally: Tally = { ok: 0, unavailable: 0, other: [] };
  let stopped = false;
  const listeners = new Set<() => void>();
  const record = async (response: Response) => {
    const text = await response.text();
    if (response.ok) tally.ok++;
    else if (
      response.status === 503 &&
      /"code":"DATABASE_UNAVAILABLE"/.test(text) &&
      response.headers.get("retry-after") !== null
    )
      tally.unavailable++;
    else tally.other.push(`${response.status} ${text.slice(0, 200)}`);
    for (const l of listeners) l();
    return response.ok ? (JSON.parse(text) as Record<string, unknown>) : undefined;
  };
  const call = async (method: string, path: string, body?: unknown) => {
    let response: Response;
    try {
      response = await fetch(`${url}${path}`, {
        method,
        headers: { "content-type": "application/json" },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (error) {
      // The server process is gone (or reset the connection): that is the failure under test.
      tally.other.push(`no answer: ${(error as Error).message}`);
      for (const l of listeners) l();
      return undefined;
    }
    return record(response);
  };
  const worker = async () => {
    while (!stopped) {
      const created = await call("POST", "/api/flow-runs", { flowName });
      const run = created?.run as { id: string } | undefined;
      if (run !== undefined) await call("GET", `/api/flow-runs/${run.id}`);
      await call("GET", "/api/flow-runs?limit=20");
      await call("POST", `/api/agents/${agentId}/claim`, { limit: 5, waitMs: 0 });
    }
  };
  const all = Promise.all(Array.from({ length: workers }, worker));
  return {
    tally,
    /** Resolves once `predicate` holds of the tally (checked after every answer). */
    until(what: string, predicate: (t: Tally) => boolean, timeoutMs = 60_000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          if (!predicate(tally)) return;
          clearTimeout(timer);
          listeners.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(tally)}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async stop() {
      stopped = true;
      await all;
    },
  };
}

describe("PostgreSQL connections cut under load", {
  skip: POSTGRES_URL === undefined ? "WEFT_TEST_POSTGRES_URL not set" : false,
}, () => {
  test("the server keeps running, answers 503 while the database is gone, and recovers by itself", async () => {
    const target = new URL(POSTGRES_URL!);
    const proxy: TcpProxy = await startTcpProxy({
      host: target.hostname || "127.0.0.1",
      port: Number(target.port || 5432),
    });
    cleanups.push(() => proxy.close());
    const schema = await createSchema(POSTGRES_URL!);
    cleanups.push(() => dropSchema(POSTGRES_URL!, schema));
    const direct = withSearchPath(POSTGRES_URL!, schema);

    // The flow and the agent are written directly, not through the proxy.
    const setup = await openServerDb({ db: direct });
    const flow = serializedFlow();
    await setup.flows.register(flow);
    const agent = await setup.agents.register({
      name: `agent-${randomUUID()}`,
      labels: [],
      concurrency: 5,
    });
    await setup.close();

    const server: WeftProcess = startWeft([
      "server",
      "start",
      "--db",
      withSearchPath(proxy.rewrite(POSTGRES_URL!), schema),
      "--port",
      "0",
      "--loop-interval",
      "200",
    ]);
    await server.waitFor("weft server listening on ", { stream: "stderr" });
    const port = /listening on http:\/\/\S+:(\d+) /.exec(server.stderr())?.[1];
    assert.ok(port, server.stderr());
    const url = `http://127.0.0.1:${port}`;

    const load = startLoad(url, flow.name, agent.id, 12);
    try {
      for (let cut = 1; cut <= 3; cut++) {
        const before = { ...load.tally };
        await load.until(`answers before cut ${cut}`, (t) => t.ok >= before.ok + 40);
        await proxy.cut();
        await load.until(
          `503 answers during cut ${cut}`,
          (t) => t.unavailable >= before.unavailable + 20 || t.other.length > 0,
        );
        assert.deepEqual(
          load.tally.other,
          [],
          `only 503s while the database is gone${describeOutput(server)}`,
        );
        assert.ok(server.running && isAlive(server.pid), `the server survived cut ${cut}`);
        const during = load.tally.ok;
        await proxy.restore();
        await load.until(
          `successful answers after restoring cut ${cut}`,
          (t) => t.ok >= during + 40 || t.other.length > 0,
        );
        assert.deepEqual(load.tally.other, [], `no 500 or lost answer${describeOutput(server)}`);
      }
    } finally {
      await load.stop();
    }
    assert.ok(server.running, `the server is still running${describeOutput(server)}`);
    assert.doesNotMatch(server.stderr(), /Connection terminated unexpectedly\n\s+at|uncaught/i);
    const ready = await waitUntil("the server ready", async () => {
      const r = await fetch(`${url}/api/ready`);
      return r.ok ? r.status : undefined;
    });
    assert.equal(ready, 200);
    const stopped = await server.stop();
    assert.equal(stopped.code, 0, describeOutput(server));
  });
});
