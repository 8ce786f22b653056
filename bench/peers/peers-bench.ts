// weft beside what a user would pick instead, measured in one run on this
// machine (issue 16, "side by side"). One table on stdout, each row a ratio
// weft / peer of speeds (above 1: weft is faster); progress and the load
// average on stderr. See README.md for what each row measures.
//
//   npm run -s bench:peers [-- --engine-n 1000,10000] [--runs 500] [--tasks 20000]
//                             [--repeat 3] [--prefect-big] [--only engine,orchestrated,distributed]
//
// Services: PostgreSQL from WEFT_TEST_POSTGRES_URL, Redis from
// WEFT_TEST_REDIS_URL (defaults: the test services on 127.0.0.1); a service
// that is missing makes its rows say why, the others still run.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue, QueueEvents, Worker } from "bullmq";
import { Redis } from "ioredis";
import pg from "pg";
import PgBoss from "pg-boss";
import type { State } from "../../src/core/states.ts";
import type { Flow } from "../../src/flow.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import {
  register,
  removeTempDirs,
  startAgentProcess,
  startUp,
  stopAll,
  tempDir,
} from "../../test/e2e/e2e-process.ts";
import { chainFlow, trivialMapFlow } from "../distributed/bench-flows.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const POSTGRES_URL =
  process.env.WEFT_TEST_POSTGRES_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const REDIS_URL = process.env.WEFT_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const PREFECT_DIR = resolve(
  process.env.WEFT_PREFECT1_DIR ?? join(ROOT, "..", "shared", "peers", "prefect1"),
);

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : (process.argv[at + 1] ?? fallback);
}
const ENGINE_N = option("--engine-n", "1000,10000").split(",").map(Number);
const RUNS = Number(option("--runs", "500"));
const TASKS = Number(option("--tasks", "20000"));
const REPEAT = Math.max(1, Number(option("--repeat", "3")));
const ONLY = option("--only", "engine,orchestrated,distributed").split(",");
const PREFECT_BIG = process.argv.includes("--prefect-big");
/** Prefect's local executor at N = 10,000 takes 2–5 minutes a row (its README). */
const PREFECT_MAX_N = 1000;

const log = (line: string) => process.stderr.write(`${line}\n`);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor((s.length - 1) / 2)]!;
};
const fmt = (n: number, digits = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });

interface Row {
  readonly what: string;
  readonly weft: string;
  readonly peer: string;
  /** weft's speed / the peer's; undefined with a reason instead. */
  readonly ratio?: number;
  readonly note?: string;
}
const rows: Row[] = [];
function row(r: Row): void {
  rows.push(r);
  log(
    `${r.what}: weft ${r.weft} | peer ${r.peer} | ${r.ratio === undefined ? r.note : ratioText(r.ratio)}`,
  );
}
/** A row that could not be measured, and why. */
function skipped(what: string, reason: string): void {
  row({ what, weft: "–", peer: "–", note: `not measured: ${reason}` });
}
/** "2.31×", "1,234×", or "1/399" for a ratio under 0.1 (weft slower: the peer is 399× faster). */
function ratioText(ratio: number): string {
  if (ratio < 0.1) return `1/${fmt(1 / ratio)}`;
  return `${fmt(ratio, ratio < 10 ? 2 : 0)}×`;
}
const firstLine = (error: unknown) => String((error as Error)?.message ?? error).split("\n")[0]!;

// ------------------------------------------------------------------ engine

/** One row of bench/engine in a fresh process: tasks per second. */
function engineRow(workload: string, executor: string, n: number): number {
  const out = spawnSync(
    process.execPath,
    [
      "--max-old-space-size=4096",
      "--import",
      "tsx",
      "--conditions=weftflow-source",
      "bench/engine/engine-bench.ts",
      workload,
      executor,
      String(n),
    ],
    { cwd: ROOT, encoding: "utf8", timeout: 300_000 },
  );
  const cells = out.stdout.trim().split("\n").at(-1)?.split("\t") ?? [];
  const tps = Number(cells[5]);
  if (out.status !== 0 || !Number.isFinite(tps))
    throw new Error(`engine-bench ${workload} ${executor} ${n}: ${out.stderr.trim()}`);
  return tps;
}

/** Why Prefect 1.4.1 cannot run here, or undefined when it can. */
function prefectProblem(): string | undefined {
  if (!existsSync(join(PREFECT_DIR, "bench.py"))) return `no ${PREFECT_DIR}/bench.py`;
  const out = spawnSync(
    "bash",
    ["-c", '. ./env.sh && "$PY" -c "import prefect; print(prefect.__version__)"'],
    { cwd: PREFECT_DIR, encoding: "utf8", timeout: 60_000 },
  );
  if (out.status === 0 && out.stdout.trim() === "1.4.1") return undefined;
  const why = (out.stderr.trim().split("\n").at(-1) ?? "").trim() || out.stdout.trim();
  return `Prefect 1.4.1 is not set up on this machine (${why}; see ${PREFECT_DIR}/README.md)`;
}

/** One Prefect row (bench.py in a fresh python3): tasks per second. */
function prefectRow(workload: string, n: number): number {
  const out = spawnSync("bash", ["-c", `. ./env.sh && "$PY" bench.py ${workload} local ${n}`], {
    cwd: PREFECT_DIR,
    encoding: "utf8",
    timeout: 600_000,
  });
  const cells = out.stdout.trim().split("\n").at(-1)?.split("\t") ?? [];
  const tps = Number(cells[5]);
  if (out.status !== 0 || !Number.isFinite(tps))
    throw new Error(`prefect bench.py ${workload} local ${n}: ${out.stderr.trim().slice(-300)}`);
  return tps;
}

function engineRows(): void {
  const prefect = prefectProblem();
  for (const n of ENGINE_N) {
    for (const workload of ["fanout", "chain"]) {
      log(`engine ${workload} N=${fmt(n)}, ${REPEAT}× interleaved, load ${load()}`);
      const weft: number[] = [];
      const plain: number[] = [];
      const pf: number[] = [];
      const runPrefect = prefect === undefined && (n <= PREFECT_MAX_N || PREFECT_BIG);
      for (let r = 0; r < REPEAT; r++) {
        weft.push(engineRow(workload, "concurrent", n));
        plain.push(engineRow(workload, "plain", n));
        if (runPrefect && r === 0) pf.push(prefectRow(workload, n));
      }
      const w = median(weft);
      const what = `engine, ${workload} N=${fmt(n)} (concurrent executor; tasks/s)`;
      if (prefect !== undefined) skipped(`${what} vs Prefect 1.4.1 flow.run()`, prefect);
      else if (!runPrefect)
        skipped(
          `${what} vs Prefect 1.4.1 flow.run()`,
          `Prefect takes minutes at N=${fmt(n)}; run with --prefect-big`,
        );
      else
        row({
          what: `${what} vs Prefect 1.4.1 flow.run()`,
          weft: fmt(w),
          peer: fmt(median(pf)),
          ratio: w / median(pf),
        });
      row({
        what: `${what} vs a plain loop`,
        weft: fmt(w),
        peer: fmt(median(plain)),
        ratio: w / median(plain),
      });
    }
  }
}

// ------------------------------------------------------------ orchestrated

const ORCH_LABEL = "bench-peers";

/** One-task runs per second: a backlog of `runs`, drained by one agent (local environment). */
async function weftRunsPerSecond(db: string | undefined): Promise<number> {
  const home = tempDir("peers");
  const up = await startUp({ home, noAgent: true, ...(db === undefined ? {} : { db }) });
  try {
    const env = { api: up.url, home };
    const reg = await register(
      "bench/e2e/bench-flows.ts",
      ["--flow", "e2e-bench-throughput", "--labels", ORCH_LABEL],
      env,
    );
    const flowId = reg.flows[0]!.id;
    for (let i = 0; i < RUNS; i += 50)
      await Promise.all(
        Array.from({ length: Math.min(50, RUNS - i) }, () => up.api.createFlowRun({ flowId })),
      );
    const agent = await startAgentProcess({
      home,
      api: up.url,
      name: "bench-peers",
      labels: [ORCH_LABEL],
      concurrency: 64,
    });
    try {
      for (;;) {
        await new Promise((r) => setTimeout(r, 250));
        const runs = [];
        let cursor: string | undefined;
        do {
          const page = await up.api.listFlowRuns({
            flowId,
            limit: 500,
            ...(cursor === undefined ? {} : { cursor }),
          });
          runs.push(...page.items);
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        if (runs.some((r) => r.state.type === "Failed")) throw new Error("a weft run failed");
        if (runs.length === RUNS && runs.every((r) => r.state.type === "Success")) {
          const first = Math.min(...runs.map((r) => Date.parse(r.startTime!)));
          const last = Math.max(...runs.map((r) => Date.parse(r.endTime!)));
          return RUNS / ((last - first) / 1000);
        }
      }
    } finally {
      await agent.stop();
    }
  } finally {
    await up.stop();
  }
}

/** pg-boss jobs completed per second: `runs` inserted, one loop fetches 64 at a time and completes them. */
async function pgBossPerSecond(url: string): Promise<number> {
  const schema = `peers_${randomUUID().slice(0, 8)}`;
  const boss = new PgBoss({ connectionString: url, schema, supervise: false, schedule: false });
  boss.on("error", () => {});
  await boss.start();
  try {
    const queue = "one-task";
    await boss.createQueue(queue);
    for (let i = 0; i < RUNS; i += 500)
      await boss.insert(
        Array.from({ length: Math.min(500, RUNS - i) }, (_, k) => ({
          name: queue,
          data: { i: i + k },
        })),
      );
    const started = performance.now();
    let done = 0;
    while (done < RUNS) {
      const jobs = await boss.fetch<{ i: number }>(queue, { batchSize: 64 });
      if (jobs.length === 0) continue;
      await boss.complete(
        queue,
        jobs.map((j) => j.id),
      );
      done += jobs.length;
    }
    return RUNS / ((performance.now() - started) / 1000);
  } finally {
    await boss.stop({ graceful: false, wait: true }).catch(() => {});
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  }
}

/** Bare BullMQ jobs completed per second: `runs` added in bulk, one worker (concurrency 64) completes them. */
async function bullmqPerSecond(prefix: string): Promise<number> {
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue("one-task", { connection, prefix });
  try {
    for (let i = 0; i < RUNS; i += 500)
      await queue.addBulk(
        Array.from({ length: Math.min(500, RUNS - i) }, (_, k) => ({
          name: "one",
          data: { i: i + k },
          opts: { removeOnComplete: true },
        })),
      );
    const started = performance.now();
    let done = 0;
    let finish: () => void = () => {};
    const all = new Promise<void>((r) => {
      finish = r;
    });
    const worker = new Worker("one-task", async (job) => job.data, {
      connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }),
      prefix,
      concurrency: 64,
    });
    worker.on("completed", () => {
      if (++done === RUNS) finish();
    });
    await all;
    const rate = RUNS / ((performance.now() - started) / 1000);
    await worker.close();
    return rate;
  } finally {
    await queue.close();
    await connection.quit();
  }
}

/** A fresh database on the PostgreSQL of `url` (dropped by the returned function). */
async function freshDatabase(url: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `weft_peers_${randomUUID().slice(0, 8)}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(url);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

async function serviceProblem(kind: "postgres" | "redis"): Promise<string | undefined> {
  try {
    if (kind === "postgres") {
      const c = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
      await c.connect();
      await c.end();
    } else {
      const r = new Redis(REDIS_URL, {
        lazyConnect: true,
        maxRetriesPerRequest: 0,
        retryStrategy: () => null,
      });
      r.on("error", () => {});
      await r.connect();
      await r.ping();
      r.disconnect();
    }
    return undefined;
  } catch (error) {
    const where = kind === "postgres" ? "WEFT_TEST_POSTGRES_URL" : "WEFT_TEST_REDIS_URL";
    return `no ${kind === "postgres" ? "PostgreSQL" : "Redis"} (${where}): ${firstLine(error)}`;
  }
}

async function orchestratedRows(prefix: string): Promise<void> {
  const build = spawnSync(process.execPath, ["scripts/build.js", "--if-stale", "--js"], {
    cwd: ROOT,
    stdio: ["ignore", 2, 2],
  });
  if (build.status !== 0) throw new Error("node scripts/build.js --if-stale --js failed");
  const what = (db: string, peer: string) =>
    `orchestrated one-task runs/s, one agent (${db}) vs ${peer}, backlog ${fmt(RUNS)}`;
  const pgProblem = await serviceProblem("postgres");
  const redisProblem = await serviceProblem("redis");
  log(`orchestrated: SQLite, load ${load()}`);
  const sqlite = median(await repeatAsync(() => weftRunsPerSecond(undefined)));
  if (pgProblem !== undefined) {
    skipped(what("PostgreSQL", "pg-boss 10.4.2"), pgProblem);
  } else {
    const db = await freshDatabase(POSTGRES_URL);
    try {
      log(`orchestrated: PostgreSQL and pg-boss interleaved, load ${load()}`);
      const weft: number[] = [];
      const boss: number[] = [];
      for (let r = 0; r < REPEAT; r++) {
        weft.push(await weftRunsPerSecond(db.url));
        boss.push(await pgBossPerSecond(db.url));
      }
      row({
        what: what("PostgreSQL", "pg-boss 10.4.2 on the same PostgreSQL"),
        weft: fmt(median(weft)),
        peer: fmt(median(boss)),
        ratio: median(weft) / median(boss),
      });
      row({
        what: what("SQLite", "pg-boss 10.4.2 on PostgreSQL"),
        weft: fmt(sqlite),
        peer: fmt(median(boss)),
        ratio: sqlite / median(boss),
      });
    } finally {
      await db.drop().catch((e: unknown) => log(`could not drop the bench database: ${e}`));
    }
  }
  if (redisProblem !== undefined) {
    skipped(what("SQLite", "bare BullMQ 6.7.0"), redisProblem);
  } else {
    log(`orchestrated: bare BullMQ, load ${load()}`);
    const bull = median(await repeatAsync(() => bullmqPerSecond(prefix)));
    row({
      what: what("SQLite", "bare BullMQ 6.7.0 (one worker, concurrency 64)"),
      weft: fmt(sqlite),
      peer: fmt(bull),
      ratio: sqlite / bull,
    });
  }
}

async function repeatAsync(f: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let r = 0; r < REPEAT; r++) out.push(await f());
  return out;
}

// ------------------------------------------------------------- distributed

const children = new Set<ChildProcess>();

function spawnReady(args: string[], ready: string, home: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, WEFT_HOME: home },
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.add(child);
  return new Promise((resolvePromise, reject) => {
    let err = "";
    child.stderr!.setEncoding("utf8").on("data", (s: string) => {
      if (err.includes(ready)) return;
      err += s;
      if (err.includes(ready)) resolvePromise(child);
    });
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code}:\n${err}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  children.delete(child);
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await gone;
}

/** Bare BullMQ: sequential round trip p50 (ms) and bulk throughput (jobs/s) with `workers` bare workers. */
async function bareBullmq(prefix: string, home: string, workers: number) {
  const queue = "bare";
  const bare = await Promise.all(
    Array.from({ length: workers }, () =>
      spawnReady(
        ["--import", "tsx", "bench/distributed/bare-worker.ts", REDIS_URL, prefix, queue],
        "bare worker ready",
        home,
      ),
    ),
  );
  const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection, prefix });
  const events = new QueueEvents(queue, { connection, prefix });
  try {
    await events.waitUntilReady();
    const waiters = new Map<string, () => void>();
    events.on("completed", ({ jobId }) => waiters.get(jobId)?.());
    const tag = randomUUID().slice(0, 6);
    const once = async (i: number) => {
      const id = `${tag}-s${i}`;
      const done = new Promise<void>((r) => waiters.set(id, r));
      await q.add("bare", { i }, { jobId: id, removeOnComplete: { count: 1000 } });
      await done;
      waiters.delete(id);
    };
    for (let i = 0; i < 30; i++) await once(i);
    const lat: number[] = [];
    for (let i = 30; i < 230; i++) {
      const t = performance.now();
      await once(i);
      lat.push(performance.now() - t);
    }
    const n = Math.min(TASKS, 5000);
    const all = Array.from(
      { length: n },
      (_, i) => new Promise<void>((r) => waiters.set(`${tag}-t${i}`, r)),
    );
    const t = performance.now();
    for (let at = 0; at < n; at += 500)
      await q.addBulk(
        Array.from({ length: Math.min(500, n - at) }, (_, k) => ({
          name: "bare",
          data: { i: at + k },
          opts: { jobId: `${tag}-t${at + k}`, removeOnComplete: { count: 1000 } },
        })),
      );
    await Promise.all(all);
    return { p50: median(lat), perSecond: n / ((performance.now() - t) / 1000) };
  } finally {
    await events.close();
    await q.close();
    await connection.quit();
    await Promise.all(bare.map(stopChild));
  }
}

async function distributedRows(prefix: string): Promise<void> {
  const problem = await serviceProblem("redis");
  if (problem !== undefined) {
    skipped("distributed per-task overhead vs bare BullMQ", problem);
    return;
  }
  const tmp = mkdtempSync(join(tmpdir(), "weft-peers-dist-"));
  try {
    const home = join(tmp, "home");
    const storage = createLocalStorage({
      directory: join(tmp, "flows"),
      cacheDir: join(tmp, "cache"),
      hostnameLabel: false,
    });
    const locations = new Map<Flow<unknown>, string>();
    for (const f of [trivialMapFlow, chainFlow] as Flow<unknown>[])
      locations.set(f, storage.addFlow(f));
    await storage.build();
    const timed = async (flow: Flow<unknown>, parameters: Record<string, unknown> = {}) => {
      const durations: number[] = [];
      const started = performance.now();
      const run = await flow.run({
        parameters,
        executor: {
          type: "distributed",
          redisUrl: REDIS_URL,
          prefix,
          origin: { storage: storage.toJSON(), location: locations.get(flow)! },
        },
        reporter: {
          taskState: (_r, _t, _i, state: State) => {
            if (state.type === "Success" && state.durationMs !== undefined)
              durations.push(state.durationMs);
          },
        },
      });
      if (run.state.type !== "Success")
        throw new Error(`${flow.name}: ${run.state.type} ${run.state.message}`);
      return { ms: performance.now() - started, durations };
    };
    const startWorker = (name: string) =>
      spawnReady(
        [
          "bin/weft.js",
          "worker",
          "start",
          "--redis",
          REDIS_URL,
          "--prefix",
          prefix,
          "--queues",
          "default",
          "--concurrency",
          "8",
          "--name",
          name,
        ],
        `worker ${name} serving`,
        home,
      );
    log(`distributed: bare BullMQ and weft, 2 workers each, interleaved, load ${load()}`);
    const bareP50: number[] = [];
    const barePerSecond: number[] = [];
    const weftP50: number[] = [];
    const weftPerSecond: number[] = [];
    for (let r = 0; r < REPEAT; r++) {
      const bare = await bareBullmq(prefix, home, 2);
      bareP50.push(bare.p50);
      barePerSecond.push(bare.perSecond);
      const workers = await Promise.all([startWorker("peers-1"), startWorker("peers-2")]);
      try {
        await timed(trivialMapFlow, { count: 100 }); // each worker loads the bundle
        weftP50.push(median((await timed(chainFlow)).durations));
        const big = await timed(trivialMapFlow, { count: TASKS });
        weftPerSecond.push(TASKS / (big.ms / 1000));
      } finally {
        await Promise.all(workers.map(stopChild));
      }
    }
    row({
      what: "distributed per-task overhead p50, ms (200 chained tasks vs sequential BullMQ jobs)",
      weft: fmt(median(weftP50), 2),
      peer: fmt(median(bareP50), 2),
      ratio: median(bareP50) / median(weftP50),
    });
    row({
      what: `distributed throughput, 2 workers (${fmt(TASKS)} trivial mapped tasks/s vs BullMQ jobs/s)`,
      weft: fmt(median(weftPerSecond)),
      peer: fmt(median(barePerSecond)),
      ratio: median(weftPerSecond) / median(barePerSecond),
    });
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// -------------------------------------------------------------------- main

async function dropPrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, retryStrategy: () => null });
  redis.on("error", () => {});
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== "0");
  } catch {
    // No Redis: nothing was written.
  } finally {
    redis.disconnect();
  }
}

const prefix = `weft-peers-${randomUUID().slice(0, 8)}`;
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});
log(`bench:peers, ${REPEAT} repetition(s) a row, load average ${load()}`);
try {
  for (const [part, run] of [
    ["engine", async () => engineRows()],
    ["orchestrated", () => orchestratedRows(prefix)],
    ["distributed", () => distributedRows(prefix)],
  ] as const) {
    if (!ONLY.includes(part)) continue;
    try {
      await run();
    } catch (error) {
      skipped(`${part} rows`, `failed: ${firstLine(error)}`);
    }
  }
} finally {
  for (const c of children) c.kill("SIGKILL");
  await stopAll();
  removeTempDirs();
  await dropPrefix(prefix);
}
log(`load average ${load()}`);
const header = ["measure", "weft", "peer", "weft / peer"];
const cells = rows.map((r) => [
  r.what,
  r.weft,
  r.peer,
  r.ratio === undefined ? (r.note ?? "") : ratioText(r.ratio),
]);
process.stdout.write(
  `| ${header.join(" | ")} |\n|${header.map(() => "---").join("|")}|\n${cells
    .map((c) => `| ${c.join(" | ")} |`)
    .join("\n")}\n`,
);
// A peer's client (pg-boss's pool, BullMQ's blocking connections) can outlive its close by a
// timer; the table is out, so end here rather than wait for it.
process.exit(0);
