// The distributed executor's benchmark: real Redis, real `weft worker`
// processes on this machine. See README.md for the command and the figures.
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import type { DistributedExecutorOptions } from "../../src/core/executor-spec.ts";
import type { State } from "../../src/core/states.ts";
import type { Flow } from "../../src/flow.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import { chainFlow, cpuFlow, trivialMapFlow } from "./bench-flows.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const redisUrl =
  process.env.WEFT_REDIS_URL ?? process.env.WEFT_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = `weft-bench-${randomUUID().slice(0, 8)}`;
const tmp = mkdtempSync(join(tmpdir(), "weft-dist-bench-"));
const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

function spawnReady(args: string[], ready: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: { ...process.env, WEFT_HOME: join(tmp, "worker-home") },
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.add(child);
  return new Promise((resolve, reject) => {
    let err = "";
    child.stderr!.setEncoding("utf8").on("data", (s: string) => {
      if (!err.includes(ready)) {
        err += s;
        if (err.includes(ready)) resolve(child);
      }
    });
    child.on("exit", (code) => reject(new Error(`${args.join(" ")} exited ${code}:\n${err}`)));
  });
}

function startWorker(name: string, queue: string, concurrency: number): Promise<ChildProcess> {
  return spawnReady(
    [
      "bin/weft.js",
      "worker",
      "start",
      "--redis",
      redisUrl,
      "--prefix",
      prefix,
      "--queues",
      queue,
      "--concurrency",
      String(concurrency),
      "--name",
      name,
    ],
    `worker ${name} serving`,
  );
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const gone = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await gone;
  children.delete(child);
}

const storage = createLocalStorage({
  directory: join(tmp, "flows"),
  cacheDir: join(tmp, "cache"),
  hostnameLabel: false,
});
const locations = new Map<Flow<unknown>, string>();
for (const f of [trivialMapFlow, chainFlow, cpuFlow] as Flow<unknown>[])
  locations.set(f, storage.addFlow(f));
await storage.build();

function executor(flow: Flow<unknown>, queue: string): DistributedExecutorOptions {
  return {
    type: "distributed",
    redisUrl,
    prefix,
    queue,
    origin: { storage: storage.toJSON(), location: locations.get(flow)! },
  };
}

async function timed(flow: Flow<unknown>, queue: string, parameters: Record<string, unknown> = {}) {
  const durations: number[] = [];
  const started = performance.now();
  const run = await flow.run({
    parameters,
    executor: executor(flow, queue),
    reporter: {
      taskState: (_run, _task, _i, state: State) => {
        if (state.type === "Success" && state.durationMs !== undefined)
          durations.push(state.durationMs);
      },
    },
  });
  const ms = performance.now() - started;
  if (run.state.type !== "Success")
    throw new Error(`${flow.name}: ${run.state.type} ${run.state.message}`);
  return { ms, durations };
}

const p50 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const fmt = (n: number, d = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: d, minimumFractionDigits: d });
const rows: [string, string, string][] = [];
const report = (what: string, value: string, target: string) => {
  rows.push([what, value, target]);
  process.stderr.write(`${what}: ${value} (target ${target})\n`);
};

async function bareRoundTrip(): Promise<void> {
  const queue = "bare";
  const bare = await spawnReady(
    ["--import", "tsx", "bench/distributed/bare-worker.ts", redisUrl, prefix, queue],
    "bare worker ready",
  );
  const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
  const q = new Queue(queue, { connection, prefix });
  const events = new QueueEvents(queue, { connection, prefix });
  await events.waitUntilReady();
  const waiters = new Map<string, () => void>();
  events.on("completed", ({ jobId }) => waiters.get(jobId)?.());
  const once = async (i: number) => {
    const done = new Promise<void>((resolve) => waiters.set(`b${i}`, resolve));
    await q.add("bare", { i }, { jobId: `b${i}`, removeOnComplete: { count: 1000 } });
    await done;
    waiters.delete(`b${i}`);
  };
  for (let i = 0; i < 50; i++) await once(i); // warm-up
  const lat: number[] = [];
  for (let i = 50; i < 550; i++) {
    const t = performance.now();
    await once(i);
    lat.push(performance.now() - t);
  }
  report(
    "bare BullMQ round trip p50 (sequential, 500 jobs)",
    `${fmt(p50(lat), 2)} ms`,
    "(comparison)",
  );
  const n = 5000;
  const t = performance.now();
  const all = Array.from(
    { length: n },
    (_, i) => new Promise<void>((resolve) => waiters.set(`t${i}`, resolve)),
  );
  for (let at = 0; at < n; at += 500) {
    await q.addBulk(
      Array.from({ length: 500 }, (_, k) => ({
        name: "bare",
        data: { i: at + k },
        opts: { jobId: `t${at + k}`, removeOnComplete: { count: 1000 } },
      })),
    );
  }
  await Promise.all(all);
  report(
    "bare BullMQ throughput (addBulk, 1 worker × 8)",
    `${fmt(n / ((performance.now() - t) / 1000))} jobs/s`,
    "(comparison)",
  );
  await events.close();
  await q.close();
  await connection.quit();
  await stop(bare);
}

try {
  await bareRoundTrip();
  const w1 = await startWorker("bench-1", "default,cpu", 8);
  // Warm-up: the worker loads the bundle once.
  await timed(trivialMapFlow, "default", { count: 100 });
  await timed(cpuFlow, "cpu", { count: 2, ms: 5 });

  const chain = await timed(chainFlow, "default");
  report(
    "per-task dispatch overhead p50 (200 chained trivial tasks)",
    `${fmt(p50(chain.durations), 2)} ms`,
    "≤ 2 ms",
  );

  const n = 20_000;
  const one = await timed(trivialMapFlow, "default", { count: n });
  report(
    `trivial-task throughput, 1 worker (${fmt(n)} mapped)`,
    `${fmt(n / (one.ms / 1000))} tasks/s`,
    "(baseline)",
  );
  const cpu1 = await timed(cpuFlow, "cpu", { count: 40, ms: 50 });
  report("CPU-bound flow, 1 worker (40 × 50 ms)", `${fmt(cpu1.ms)} ms`, "(baseline)");

  const w2 = await startWorker("bench-2", "default,cpu", 8);
  await timed(trivialMapFlow, "default", { count: 100 });
  await timed(cpuFlow, "cpu", { count: 2, ms: 5 });
  const two = await timed(trivialMapFlow, "default", { count: n });
  report(
    `trivial-task throughput, 2 workers (${fmt(n)} mapped)`,
    `${fmt(n / (two.ms / 1000))} tasks/s`,
    "≥ 2,000 tasks/s",
  );
  const cpu2 = await timed(cpuFlow, "cpu", { count: 40, ms: 50 });
  report("CPU-bound flow, 2 workers (40 × 50 ms)", `${fmt(cpu2.ms)} ms`, "");
  report("CPU-bound speed-up, 1 → 2 workers", `${fmt(cpu1.ms / cpu2.ms, 2)}×`, "≥ 1.7×");

  const big = await timed(trivialMapFlow, "default", { count: 100_000 });
  report("mapping 100,000 trivial items, 2 workers", `${fmt(big.ms / 1000, 1)} s`, "≤ 30 s");

  await Promise.all([stop(w1), stop(w2)]);
  process.stdout.write("\n| measure | result | target |\n|---|---|---|\n");
  for (const [a, b, c] of rows) process.stdout.write(`| ${a} | ${b} | ${c} |\n`);
} finally {
  for (const c of children) c.kill("SIGKILL");
  const redis = new Redis(redisUrl);
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length) await redis.del(...keys);
  } while (cursor !== "0");
  await redis.quit();
  rmSync(tmp, { recursive: true, force: true });
}
