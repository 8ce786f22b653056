// The distributed executor against real Redis and real `weft worker` processes:
// a mapped flow spread over three workers gives the local run's results; a
// worker killed with kill -9 mid-task does not stop the flow, nor one killed
// mid-batch (each task of the batch reported once, by the re-run); a queue no worker
// serves, a bad Redis URL, a value that cannot be serialized and an input too
// large to travel inline each fail with a message that names them. A worker
// holding several jobs of synchronous bodies sends each job's completion before
// it starts the next one, and a job of another protocol version fails there,
// naming the version the worker speaks.
import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Queue, QueueEvents } from "bullmq";
import { Redis } from "ioredis";
import type { DistributedExecutorOptions } from "../../../src/core/executor-spec.ts";
import type { Flow } from "../../../src/core/flow.ts";
import type { LogRecord } from "../../../src/core/reporter.ts";
import {
  type JobData,
  PROTOCOL_VERSION,
} from "../../../src/engine/distributed/distributed-protocol.ts";
import { createLocalResultBackend } from "../../../src/engine/results/local-result-backend.ts";
import { createLocalStorage } from "../../../src/storage/local-storage.ts";
import {
  bigInputFlow,
  type Spun,
  type Squared,
  slowFlow,
  spinFlow,
  squaresFlow,
  staggeredFlow,
  unserializableFlow,
  unservedFlow,
} from "../../fixtures/distributed/dist-flows.ts";
import {
  dropPrefix,
  noRedis,
  reapWorkers,
  redisUrl,
  startWorkers,
  uniquePrefix,
  type WorkerProcess,
} from "../../fixtures/distributed/worker-processes.ts";
import { expectCode } from "../../support/expect-code.ts";

describe("distributed executor", { skip: noRedis, concurrency: 1 }, () => {
  let tmp = "";
  const prefix = uniquePrefix("exec");
  let workers: WorkerProcess[] = [];

  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "weft-dist-exec-"));
    workers = await startWorkers(3, { prefix, home: join(tmp, "worker-home"), concurrency: 2 });
  });
  after(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    reapWorkers();
    await dropPrefix(prefix);
    await rm(tmp, { recursive: true, force: true });
  });

  /** The executor options for `flow`, stored in a local storage every worker here can read. */
  async function executorFor(
    flow: Flow<unknown>,
    extra: Partial<DistributedExecutorOptions> = {},
  ): Promise<DistributedExecutorOptions> {
    const storage = createLocalStorage({
      directory: join(tmp, "flows"),
      cacheDir: join(tmp, "cache"),
      hostnameLabel: false,
    });
    const location = storage.addFlow(flow);
    await storage.build();
    return {
      type: "distributed",
      redisUrl: redisUrl!,
      prefix,
      origin: { storage: storage.toJSON(), location },
      ...extra,
    };
  }

  test("three workers each run some children of a mapped flow, and the results equal the local run's", async () => {
    const parameters = { count: 60, ms: 100 };
    const local = await squaresFlow.run({ parameters });
    const run = await squaresFlow.run({ parameters, executor: await executorFor(squaresFlow) });
    assert.equal(run.state.type, "Success", run.state.message);
    const rows = run.outputs.rows as Squared[];
    const localRows = local.outputs.rows as Squared[];
    assert.deepEqual(
      rows.map(({ x, square }) => ({ x, square })),
      localRows.map(({ x, square }) => ({ x, square })),
    );
    assert.equal(run.outputs.total, local.outputs.total);
    const pids = new Set(rows.map((r) => r.pid));
    const workerPids = new Set(workers.map((w) => w.pid));
    for (const pid of pids) assert.ok(workerPids.has(pid), `pid ${pid} is one of the workers`);
    assert.equal(pids.size, 3, `every worker ran some children: ${[...pids].join(", ")}`);
    assert.ok(!pids.has(process.pid), "no child ran in the flow-run process");
  });

  test("a worker holding several jobs of synchronous bodies completes each before it starts the next", async () => {
    const spinPrefix = uniquePrefix("spin");
    const [worker] = await startWorkers(1, {
      prefix: spinPrefix,
      home: join(tmp, "spin-home"),
      concurrency: 4,
    });
    const redis = new Redis(redisUrl!, { maxRetriesPerRequest: null });
    const queue = new Queue("default", { connection: redis, prefix: spinPrefix });
    try {
      // 8 children, one a job (before a measure, jobs are sized for 4 per worker slot).
      const executor = await executorFor(spinFlow, { prefix: spinPrefix });
      const run = await spinFlow.run({ parameters: { count: 8, ms: 20 }, executor });
      assert.equal(run.state.type, "Success", run.state.message);
      const jobs = (await queue.getJobs(["completed"]))
        .filter(
          (job) =>
            job.id?.startsWith(`${run.id}.`) &&
            (job.data as JobData).items[0]!.slug.startsWith("spin"),
        )
        .map((job) => {
          const reply = (
            typeof job.returnvalue === "string" ? JSON.parse(job.returnvalue) : job.returnvalue
          ) as { items: { value: { j: Spun } }[] };
          const spun = reply.items.map((item) => item.value.j);
          return {
            id: job.id,
            finishedOn: job.finishedOn!,
            start: Math.min(...spun.map((s) => s.start)),
            pid: spun[0]!.pid,
          };
        })
        .sort((a, b) => a.start - b.start);
      assert.ok(jobs.length >= 4, `the children travelled in several jobs (${jobs.length})`);
      for (const job of jobs) assert.equal(job.pid, worker!.pid);
      // Run back to back in one turn of the event loop, the jobs a worker holds would all
      // complete after the last of them ran: a job's completion after the next one's start.
      for (let k = 1; k < jobs.length; k++) {
        const before = jobs[k - 1]!;
        const next = jobs[k]!;
        assert.ok(
          before.finishedOn <= next.start,
          `job ${before.id} should complete (${before.finishedOn}) before job ${next.id} starts (${next.start})`,
        );
      }
    } finally {
      await queue.close();
      await redis.quit();
      await worker!.stop();
      await dropPrefix(spinPrefix);
    }
  });

  test("a job of another protocol version fails on the worker, naming the version it speaks", async () => {
    const redis = new Redis(redisUrl!, { maxRetriesPerRequest: null });
    // BullMQ never closes a connection it was given: each is quit below (a forgotten one
    // kept this file's process alive after its last test).
    const eventsRedis = redis.duplicate();
    const queue = new Queue("default", { connection: redis, prefix });
    const events = new QueueEvents("default", { connection: eventsRedis, prefix });
    try {
      await events.waitUntilReady();
      const job = await queue.add("weft-tasks", { v: PROTOCOL_VERSION + 1, items: [] });
      await assert.rejects(
        job.waitUntilFinished(events),
        new RegExp(`job ${job.id} is not a weft job of protocol ${PROTOCOL_VERSION}: v: `),
      );
    } finally {
      await events.close();
      await queue.close();
      await eventsRedis.quit();
      await redis.quit();
    }
  });

  test("a task whose value cannot be serialized fails, naming the task and the worker", async () => {
    const run = await unserializableFlow.run({ executor: await executorFor(unserializableFlow) });
    assert.equal(run.state.type, "Failed");
    const state = run.stateOf("make-function-1");
    assert.equal(state.type, "Failed");
    assert.equal(state.error?.code, "VALUE_NOT_CLONEABLE");
    assert.match(
      state.message ?? "",
      /result of task make-function-1 cannot be sent back from worker w\d/,
    );
    assert.match(state.message ?? "", /a function/);
    assert.equal(state.attempts, 1, "not retried");
  });

  test("an input over the inline limit fails without a result backend, naming the task and the size", async () => {
    const executor = await executorFor(bigInputFlow, { inlineLimitBytes: 1000 });
    const run = await bigInputFlow.run({ parameters: { bytes: 5000 }, executor });
    const state = run.stateOf("measure-1");
    assert.equal(state.type, "Failed");
    assert.equal(state.error?.code, "RESULT_NOT_PERSISTED");
    assert.match(state.message ?? "", /input 0 of task measure-1 is 4\.9 KiB, over the 1000 B/);
    assert.equal(run.stateOf("big-1").type, "Success", "a large result comes back inline");
  });

  test("with a result backend, a large input travels by reference", async () => {
    const executor = await executorFor(bigInputFlow, { inlineLimitBytes: 1000 });
    const result = createLocalResultBackend({ directory: join(tmp, "results") });
    const run = await bigInputFlow.run({ parameters: { bytes: 5000 }, executor, result });
    assert.equal(run.state.type, "Success", run.state.message);
    assert.equal(run.outputs.length, 5000);
    const refs = await readdir(join(tmp, "results", "_distributed"));
    assert.deepEqual(refs, [run.id], "the input was written under the run's id");
  });

  test("a task routed to a queue no worker serves is reported as not started", async () => {
    const logs: LogRecord[] = [];
    const executor = await executorFor(unservedFlow, { noWorkerTimeoutMs: 1500 });
    const started = Date.now();
    const run = await unservedFlow.run({ executor, reporter: { log: (r) => logs.push(r) } });
    const state = run.stateOf("on-gpu-1");
    assert.equal(state.type, "Failed");
    assert.equal(state.error?.code, "NO_LIVE_WORKER");
    assert.match(
      state.message ?? "",
      /task on-gpu-1 did not start: no live worker serves queue "nobody-serves-this"/,
    );
    assert.ok(Date.now() - started < 15_000, "it did not wait for ever");
    assert.ok(
      logs.some(
        (r) =>
          r.level === "warn" &&
          r.message.includes('no live worker serves queue "nobody-serves-this"'),
      ),
      "a warning came first",
    );
  });

  test("an unreachable Redis fails the run after bounded retries, naming the address", async () => {
    const executor = await executorFor(squaresFlow);
    const started = Date.now();
    const error = await expectCode(
      () =>
        squaresFlow.run({ executor: { ...executor, redisUrl: "redis://:secret@127.0.0.1:1/0" } }),
      "REDIS_UNREACHABLE",
      "a Redis nobody listens on",
    );
    assert.match(
      error.message,
      /cannot reach Redis at redis:\/\/127\.0\.0\.1:1\/0 after 4 attempts/,
    );
    assert.ok(!error.message.includes("secret"), "the password is never shown");
    assert.ok(Date.now() - started < 15_000, "bounded");
  });

  test("a worker killed with kill -9 mid-task: its job is re-run elsewhere as the next attempt and the flow completes", async () => {
    const killPrefix = uniquePrefix("kill");
    const pair = await startWorkers(2, {
      prefix: killPrefix,
      home: join(tmp, "kill-home"),
      concurrency: 1,
      lockDurationMs: 1500,
    });
    try {
      const dir = await mkdtemp(join(tmp, "slow-"));
      const logs: LogRecord[] = [];
      const executor = await executorFor(slowFlow, { prefix: killPrefix });
      const running = slowFlow.run({
        parameters: { count: 2, ms: 3000, dir },
        executor,
        reporter: { log: (r) => logs.push(r) },
      });
      // Wait until a first attempt has started, then kill its worker.
      let victim: number | undefined;
      let victimFile = "";
      for (let i = 0; i < 200 && victim === undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        const files = (await readdir(dir)).filter((f) => f.endsWith("-1.pid"));
        if (files[0] !== undefined) {
          victimFile = files[0];
          victim = Number(await readFile(join(dir, victimFile), "utf8"));
        }
      }
      assert.ok(victim !== undefined, "a task started");
      process.kill(victim, "SIGKILL");
      const run = await running;
      assert.equal(run.state.type, "Success", run.state.message);
      const done = run.outputs.done as { i: number; pid: number; attempt: number }[];
      const index = Number(victimFile.split("-")[1]);
      const rerun = done[index]!;
      assert.equal(rerun.attempt, 2, "the re-run is the next attempt");
      assert.notEqual(rerun.pid, victim, "another worker re-ran it");
      assert.ok(
        logs.some((r) => r.level === "warn" && r.message.includes(`task slow-1 ran as attempt 2`)),
        `the run's log says so: ${logs.map((r) => r.message).join(" | ")}`,
      );
    } finally {
      await Promise.all(pair.map((w) => w.stop()));
      await dropPrefix(killPrefix);
    }
  });

  test("a worker killed with kill -9 mid-batch: BullMQ re-runs the whole job elsewhere, and each task is reported once, by the re-run", async () => {
    const killPrefix = uniquePrefix("batch");
    const pair = await startWorkers(2, {
      prefix: killPrefix,
      home: join(tmp, "batch-home"),
      concurrency: 1,
      lockDurationMs: 1500,
    });
    try {
      const dir = await mkdtemp(join(tmp, "staggered-"));
      const count = 40;
      const successes = new Map<number, number>();
      const executor = await executorFor(staggeredFlow, { prefix: killPrefix });
      const running = staggeredFlow.run({
        parameters: { count, dir },
        executor,
        reporter: {
          taskState: (_run, task, mapIndex, state) => {
            if (
              task.slug.startsWith("staggered") &&
              mapIndex !== undefined &&
              state.type === "Success"
            )
              successes.set(mapIndex, (successes.get(mapIndex) ?? 0) + 1);
          },
        },
      });
      // Wait for a worker with a job half done: one item of it finished, another still running.
      const pidOf = async (name: string) => Number(await readFile(join(dir, name), "utf8"));
      let victim: number | undefined;
      let finished: number[] = [];
      let unfinished: number[] = [];
      for (let i = 0; i < 400 && victim === undefined; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
        const files = await readdir(dir);
        const started = files.filter((f) => f.startsWith("start-") && f.endsWith("-1"));
        const done = new Set(files.filter((f) => f.startsWith("done-")));
        for (const name of started) {
          const index = Number(name.split("-")[1]);
          if (done.has(`done-${index}-1`)) continue;
          const pid = await pidOf(name);
          // Items of one job are consecutive runs of five (the executor sizes the first jobs
          // at count / (4 × slots) = 5): a finished sibling in the same run of five.
          const base = index - (index % 5);
          const siblings = [0, 1, 2, 3, 4].map((k) => base + k);
          const doneHere: number[] = [];
          for (const k of siblings) {
            if (done.has(`done-${k}-1`) && (await pidOf(`done-${k}-1`)) === pid) doneHere.push(k);
          }
          if (doneHere.length === 0) continue;
          process.kill(pid, "SIGKILL");
          victim = pid;
          finished = doneHere;
          unfinished = siblings.filter((k) => !doneHere.includes(k));
          break;
        }
      }
      assert.ok(victim !== undefined, "a worker was found mid-batch");
      const run = await running;
      assert.equal(run.state.type, "Success", run.state.message);
      const out = run.outputs.done as { i: number; pid: number; attempt: number }[];
      assert.equal(out.length, count);
      for (let i = 0; i < count; i++) {
        assert.equal(successes.get(i), 1, `task staggered[${i}] is reported once`);
        assert.equal(out[i]!.i, i);
      }
      for (const k of [...finished, ...unfinished]) {
        assert.equal(
          out[k]!.attempt,
          2,
          `staggered[${k}] of the killed batch ran again, as attempt 2`,
        );
        assert.notEqual(out[k]!.pid, victim, `staggered[${k}] ran again on the other worker`);
      }
      const reruns = (await readdir(dir)).filter((f) => f.startsWith("done-") && f.endsWith("-2"));
      assert.deepEqual(
        reruns.map((f) => Number(f.split("-")[1])).sort((a, b) => a - b),
        [...finished, ...unfinished].sort((a, b) => a - b),
        "only the killed batch ran twice",
      );
    } finally {
      await Promise.all(pair.map((w) => w.stop()));
      await dropPrefix(killPrefix);
    }
  });
});
