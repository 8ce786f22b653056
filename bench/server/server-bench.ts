// Server benchmarks (issue #5): task-run states per second through the batch
// endpoint, claim latency from a run becoming due to a waiting agent receiving
// it, and listing runs with 50 concurrent clients over 100,000 runs. The server
// is a real `weft server start` process; the clients are this process. Runs on
// SQLite always and on PostgreSQL when WEFT_TEST_POSTGRES_URL is set (in a
// fresh schema, dropped after).
//
//   npm run bench:server                       # SQLite (+ PostgreSQL if the variable is set)
//   WEFT_BENCH_RUNS=20000 npm run bench:server # a smaller list benchmark
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import pg from "pg";
import { type ApiClient, createApiClient } from "../../src/client/api-client.ts";
import { flow, parameter, task } from "../../src/index.ts";
import type { TaskRunStateWrite } from "../../src/serialization/api-schemas.ts";
import { serializeFlowGraph } from "../../src/serialization/flow-serializer.ts";
import { openServerDb } from "../../src/server/db/open-server-db.ts";
import { createSchema, dropSchema, withSearchPath } from "../../test/server/dialects.ts";

const BIN = new URL("../../bin/weft.js", import.meta.url).pathname;
const STATES = Number(process.env.WEFT_BENCH_STATES ?? 200_000);
const BATCH = 2000;
const CLAIMS = 60;
const LIST_RUNS = Number(process.env.WEFT_BENCH_RUNS ?? 100_000);
const LIST_CLIENTS = 50;
const LIST_SECONDS = 8;

const benchFlow = flow("bench-server", () => {
  const n = parameter("n", 1);
  return task("work", (x: number) => x).map(task("items", (k: number) => [k])(n));
});

interface Row {
  dialect: string;
  measure: string;
  value: string;
  target: string;
}
const rows: Row[] = [];

async function startServerProcess(
  db: string,
  home: string,
): Promise<{ url: string; child: ChildProcess }> {
  // The benchmark's agents claim runs and write their states but send no heartbeats, and a
  // phase can outlast run health's defaults (20 s for a silent agent): run health would take
  // the run back mid-phase. It is not what this measures, so its timeouts are out of the way.
  const quiet = ["--agent-timeout", "3600000", "--heartbeat-timeout", "3600000"];
  const child = spawn(
    process.execPath,
    [BIN, "server", "start", "--db", db, "--port", "0", ...quiet],
    { env: { ...process.env, WEFT_HOME: home }, stdio: ["ignore", "pipe", "inherit"] },
  );
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`weft server start exited ${code}`)));
  });
  return { url: url.trim(), child };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}
const ms = (n: number) => `${n.toFixed(1)} ms`;

async function runningRun(api: ApiClient): Promise<{ id: string }> {
  const { run } = await api.createFlowRun({ flowName: "bench-server" });
  const agent = await api.registerAgent({ name: `bench-${randomUUID().slice(0, 8)}` });
  const [claimed] = await api.claimFlowRuns(agent.id, { limit: 1 });
  if (claimed === undefined) throw new Error("the benchmark run was not claimed");
  await api.setFlowRunState(
    run.id,
    { schemaVersion: 1, type: "Running", timestamp: new Date().toISOString() },
    claimed.run.version,
  );
  return run;
}

/** Task-run states per second: batches of Running, then of Success, for STATES/2 mapped children. */
async function batchThroughput(dialect: string, api: ApiClient, clients: number): Promise<void> {
  const run = await runningRun(api);
  const children = STATES / 2;
  const batches: TaskRunStateWrite[][] = [];
  for (const [type, version] of [
    ["Running", 0],
    ["Success", 1],
  ] as const) {
    for (let start = 0; start < children; start += BATCH) {
      const batch: TaskRunStateWrite[] = [];
      for (let i = start; i < Math.min(children, start + BATCH); i++) {
        batch.push({
          flowRunId: run.id,
          slug: "work-1",
          mapIndex: i,
          state: { schemaVersion: 1, type, timestamp: new Date().toISOString(), attempts: 1 },
          version,
        });
      }
      batches.push(batch);
    }
  }
  // Running batches must land before the Success ones of the same children: two phases.
  const half = batches.length / 2;
  const started = performance.now();
  for (const phase of [batches.slice(0, half), batches.slice(half)]) {
    let next = 0;
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < phase.length) await api.setTaskRunStates(phase[next++]!);
      }),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  rows.push({
    dialect,
    measure: `task-run states/s, batch endpoint (${BATCH}/request, ${clients} client${clients > 1 ? "s" : ""})`,
    value: `${Math.round(STATES / seconds).toLocaleString("en-US")}/s (${STATES.toLocaleString("en-US")} in ${seconds.toFixed(2)} s)`,
    target: dialect === "sqlite" ? "≥ 20,000/s" : "≥ 10,000/s",
  });
}

/** From a run becoming due to a long-polling agent receiving it. */
async function claimLatency(dialect: string, api: ApiClient): Promise<void> {
  const agent = await api.registerAgent({ name: `bench-claim-${randomUUID().slice(0, 8)}` });
  for (const mode of ["created due now", "due 300 ms after creation"] as const) {
    const latencies: number[] = [];
    for (let i = 0; i < CLAIMS; i++) {
      const waiting = api.claimFlowRuns(agent.id, { limit: 1, waitMs: 10_000 });
      await new Promise((r) => setTimeout(r, 20)); // the claim is waiting on the server
      const dueAt = mode === "created due now" ? Date.now() : Date.now() + 300;
      await api.createFlowRun({
        flowName: "bench-server",
        ...(mode === "created due now" ? {} : { scheduledStart: new Date(dueAt).toISOString() }),
      });
      const [claimed] = await waiting;
      if (claimed === undefined) throw new Error("a claim came back empty");
      latencies.push(Date.now() - dueAt);
      await api.cancelFlowRun(claimed.run.id);
    }
    latencies.sort((a, b) => a - b);
    rows.push({
      dialect,
      measure: `claim latency, ${mode} (${CLAIMS} runs)`,
      value: `p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}`,
      target: "p50 ≤ 50 ms",
    });
  }
}

/** p99 of GET /api/flow-runs with 50 concurrent clients over LIST_RUNS runs. */
async function listLatency(dialect: string, api: ApiClient, db: string): Promise<void> {
  const store = await openServerDb({ db });
  try {
    const { flow: registered } = await api.registerFlow(serializeFlowGraph(benchFlow));
    const base = Date.now() - LIST_RUNS * 1000;
    for (let start = 0; start < LIST_RUNS; start += 5000) {
      const times = Array.from(
        { length: Math.min(5000, LIST_RUNS - start) },
        (_, i) => new Date(base + (start + i) * 1000),
      );
      await store.runs.createScheduled(registered.id, times);
    }
  } finally {
    await store.close();
  }
  // The store's synchronous SQLite inserts ran as one chain of settled promises, which
  // starves this process's I/O for seconds: the server closed the pooled connection of
  // registerFlow (idle past its 5 s keep-alive) and the client has not yet read the FIN,
  // so the next request would go out on a closed socket ("other side closed"). A timer
  // lets the client read it and drop that socket first.
  await new Promise((r) => setTimeout(r, 100));
  if (dialect === "postgres") {
    // A bulk load outruns autovacuum's statistics; without them the planner sorts every run
    // for each page. A database that has lived a while has them: measure that.
    const client = new pg.Client({ connectionString: db });
    await client.connect();
    await client.query("analyze flow_runs");
    await client.end();
  }
  const latencies: number[] = [];
  const deadline = performance.now() + LIST_SECONDS * 1000;
  let pages = 0;
  await Promise.all(
    Array.from({ length: LIST_CLIENTS }, async (_, c) => {
      let cursor: string | undefined;
      while (performance.now() < deadline) {
        const t0 = performance.now();
        // Clients alternate between the newest page, paging on, and a state filter.
        const page = await api.listFlowRuns(
          c % 3 === 2
            ? { flowName: "bench-server", state: "Scheduled", limit: 50 }
            : { limit: 50, ...(cursor === undefined || c % 3 === 0 ? {} : { cursor }) },
        );
        latencies.push(performance.now() - t0);
        cursor = page.nextCursor;
        pages++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  rows.push({
    dialect,
    measure: `list runs, ${LIST_CLIENTS} concurrent clients over ${LIST_RUNS.toLocaleString("en-US")} runs (50/page)`,
    value: `p50 ${ms(percentile(latencies, 50))}, p99 ${ms(percentile(latencies, 99))}, ${Math.round(pages / LIST_SECONDS)} pages/s`,
    target: "p99 reported",
  });
}

async function benchDialect(dialect: "sqlite" | "postgres"): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), "weft-bench-server-"));
  let schema: string | undefined;
  let db = join(home, "weft.db");
  const pgUrl = process.env.WEFT_TEST_POSTGRES_URL;
  if (dialect === "postgres") {
    schema = await createSchema(pgUrl!);
    db = withSearchPath(pgUrl!, schema);
  }
  const { url, child } = await startServerProcess(db, home);
  try {
    const api = createApiClient({ url });
    await api.registerFlow(serializeFlowGraph(benchFlow));
    await batchThroughput(dialect, api, 1);
    await batchThroughput(dialect, api, 4);
    await claimLatency(dialect, api);
    await listLatency(dialect, api, db);
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
    if (schema !== undefined) await dropSchema(pgUrl!, schema);
    rmSync(home, { recursive: true, force: true });
  }
}

await benchDialect("sqlite");
if (process.env.WEFT_TEST_POSTGRES_URL) await benchDialect("postgres");
else console.error("PostgreSQL skipped: WEFT_TEST_POSTGRES_URL not set");

const widths = (["dialect", "measure", "value", "target"] as const).map((k) =>
  Math.max(k.length, ...rows.map((r) => r[k].length)),
);
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
console.log(line(["dialect", "measure", "value", "target"]));
for (const r of rows) console.log(line([r.dialect, r.measure, r.value, r.target]));
