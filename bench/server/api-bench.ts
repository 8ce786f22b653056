// API benchmarks on a real server (HTTP on 127.0.0.1, SQLite in a temp dir, and
// PostgreSQL when WEFT_TEST_POSTGRES_URL is set):
//  1. claim latency: an agent long-polls; a run becomes due (created through the
//     API, or scheduled ahead); time until the agent has it, p50 / p99;
//  2. task-run state writes per second through POST /api/task-run-states;
//  3. what token verification costs per request, with the 2 s cache and without.
//
//   node --import tsx bench/server/api-bench.ts [--claims 200] [--writes 100000]
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type ApiClient, createApiClient } from "../../src/client/api-client.ts";
import type { TaskRunStateWrite } from "../../src/serialization/api-schemas.ts";
import { createApp } from "../../src/server/api/app.ts";
import { startServer } from "../../src/server/server.ts";
import { openStore } from "../../src/server/store/open-store.ts";
import { createSchema, dropSchema, withSearchPath } from "../../test/server/dialects.ts";
import { serializedFlow, st } from "../../test/server/store/store-fixtures.ts";

const { values } = parseArgs({
  options: {
    claims: { type: "string", default: "200" },
    writes: { type: "string", default: "100000" },
    batch: { type: "string", default: "1000" },
    concurrency: { type: "string", default: "4" },
    requests: { type: "string", default: "3000" },
  },
});
const CLAIMS = Number(values.claims);
const WRITES = Number(values.writes);
const BATCH = Number(values.batch);
const CONCURRENCY = Number(values.concurrency);
const REQUESTS = Number(values.requests);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const ms = (n: number) => `${n.toFixed(1)} ms`;
const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

async function claimLatency(api: ApiClient, dialect: string): Promise<void> {
  const label = `bench-${randomUUID()}`;
  const { flow } = await api.registerFlow(serializedFlow({ labels: [label] }));
  const agent = await api.registerAgent({ name: `bench-${randomUUID()}`, labels: [label] });
  for (const mode of ["created", "falls due"] as const) {
    const latencies: number[] = [];
    for (let i = 0; i < CLAIMS; i++) {
      const waiting = api.claimFlowRuns(agent.id, { waitMs: 10_000 });
      await sleep(5); // the claim is waiting on the server
      let from: number;
      if (mode === "created") {
        from = performance.now();
        await api.createFlowRun({ flowId: flow.id });
      } else {
        const dueAt = Date.now() + 30;
        await api.createFlowRun({ flowId: flow.id, scheduledStart: new Date(dueAt).toISOString() });
        from = performance.now() + (dueAt - Date.now());
      }
      const runs = await waiting;
      const got = performance.now();
      if (runs.length !== 1) throw new Error(`claim ${i} got ${runs.length} runs`);
      latencies.push(got - from);
    }
    latencies.sort((a, b) => a - b);
    console.log(
      `${dialect}: claim latency, run ${mode}: p50 ${ms(pct(latencies, 50))}, p99 ${ms(pct(latencies, 99))}, max ${ms(latencies.at(-1)!)} (${CLAIMS} claims)`,
    );
  }
}

async function batchWrites(api: ApiClient, dialect: string): Promise<void> {
  const { flow } = await api.registerFlow(serializedFlow());
  const runs = await Promise.all(
    Array.from(
      { length: CONCURRENCY },
      async () => (await api.createFlowRun({ flowId: flow.id })).run,
    ),
  );
  const perRun = Math.ceil(WRITES / CONCURRENCY);
  const started = performance.now();
  await Promise.all(
    runs.map(async (run) => {
      // Each task gets two writes (Running, then Success): creates and updates both count.
      for (let done = 0; done < perRun; done += BATCH) {
        const n = Math.min(BATCH, perRun - done);
        const half = Math.floor(n / 2);
        const base = done / 2;
        const writes: TaskRunStateWrite[] = [];
        for (let i = 0; i < half; i++)
          writes.push({
            flowRunId: run.id,
            slug: `t-${base + i}`,
            state: st("Running"),
            version: 0,
          });
        for (let i = 0; i < n - half; i++)
          writes.push({
            flowRunId: run.id,
            slug: `t-${base + i}`,
            state: st("Success"),
            version: 1,
          });
        await api.setTaskRunStates(writes);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const total = perRun * CONCURRENCY;
  console.log(
    `${dialect}: ${total} task-run state writes in ${seconds.toFixed(2)} s through POST /api/task-run-states = ${Math.round(total / seconds)}/s (batches of ${BATCH}, ${CONCURRENCY} clients)`,
  );
}

async function tokenCost(db: string, dialect: string): Promise<void> {
  const store = await openStore({ db });
  try {
    const { secret } = await store.createToken({ name: `bench-${randomUUID()}`, scopes: ["read"] });
    for (const cacheMs of [2000, 0]) {
      const app = createApp({ store, auth: { allowOpen: false, cacheMs } });
      const headers = { authorization: `Bearer ${secret}` };
      for (let i = 0; i < 100; i++) await app.request("/api/agents/none", { headers }); // warm up
      const started = performance.now();
      for (let i = 0; i < REQUESTS; i++) {
        const res = await app.request("/api/agents/none", { headers });
        if (res.status !== 404) throw new Error(`unexpected ${res.status}`);
        await res.arrayBuffer();
      }
      const each = (performance.now() - started) / REQUESTS;
      console.log(
        `${dialect}: an authenticated request (GET /api/agents/:id, in process) takes ${(each * 1000).toFixed(0)} µs with token cache ${cacheMs ? `${cacheMs} ms` : "off"}`,
      );
    }
  } finally {
    await store.close();
  }
}

async function onDialect(dialect: "sqlite" | "postgres"): Promise<void> {
  let dir: string | undefined;
  let schema: string | undefined;
  let db: string;
  if (dialect === "sqlite") {
    dir = mkdtempSync(join(tmpdir(), "weft-api-bench-"));
    db = join(dir, "weft.db");
  } else {
    schema = await createSchema(process.env.WEFT_TEST_POSTGRES_URL!);
    db = withSearchPath(process.env.WEFT_TEST_POSTGRES_URL!, schema);
  }
  const server = await startServer({ db, port: 0 });
  try {
    const api = createApiClient({ url: server.url });
    await claimLatency(api, dialect);
    await batchWrites(api, dialect);
  } finally {
    await server.close();
  }
  try {
    await tokenCost(db, dialect);
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    if (schema !== undefined) await dropSchema(process.env.WEFT_TEST_POSTGRES_URL!, schema);
  }
}

await onDialect("sqlite");
if (process.env.WEFT_TEST_POSTGRES_URL) await onDialect("postgres");
else console.log("postgres: skipped (WEFT_TEST_POSTGRES_URL not set)");
