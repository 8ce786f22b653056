// Where a user sees the distributed executor's workers: `weft worker list` and the
// dashboard's answer (GET /api/dashboard `workers`) of a server given their Redis
// (`weft up --redis`). Real worker processes on a real Redis, each test group under
// its own key prefix; a real `weft up`.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  dropPrefix,
  noRedis,
  reapWorkers,
  redisUrl,
  startWorkers,
  uniquePrefix,
  type WorkerProcess,
} from "../fixtures/distributed/worker-processes.ts";
import { runCli } from "../support/cli.ts";
import { type ServerProcess, startUp, stopAll } from "./e2e-process.ts";

interface Listed {
  name: string;
  queues: string[];
  concurrency: number;
  active?: number;
  host: string;
  pid: number;
  startedAt: string;
  lastHeartbeat?: string;
}

describe("weft worker list: usage", () => {
  test("without a Redis URL it is bad usage, with a hint", async () => {
    const result = await runCli(["worker", "list"], { env: { WEFT_REDIS_URL: "" } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /error: weft worker list needs a Redis URL \(USAGE\)/);
    assert.match(result.stderr, /hint: pass --redis/);
  });

  test("an unreachable Redis is named, without its password", async () => {
    const result = await runCli(["worker", "list", "--redis", "redis://:hunter2@127.0.0.1:1"]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /error: weft worker list cannot reach Redis at redis:\/\/127\.0\.0\.1:1 after 1 attempt: .*\(REDIS_UNREACHABLE\)/,
    );
    assert.ok(!result.stderr.includes("hunter2"));
  });
});

describe("the distributed executor's workers, listed", { skip: noRedis }, () => {
  const prefix = uniquePrefix("listed");
  const home = mkdtempSync(join(tmpdir(), "weft-workers-listed-"));
  let workers: WorkerProcess[] = [];
  let up: ServerProcess;

  before(async () => {
    [workers, up] = await Promise.all([
      startWorkers(2, { prefix, home, queues: ["default", "gpu"], concurrency: 3 }),
      startUp({ home, noAgent: true, args: ["--redis", redisUrl!, "--redis-prefix", prefix] }),
    ]);
  });
  after(async () => {
    await stopAll();
    reapWorkers();
    await dropPrefix(prefix);
    rmSync(home, { recursive: true, force: true });
  });

  const list = async (): Promise<Listed[]> => {
    const result = await runCli([
      "worker",
      "list",
      "--redis",
      redisUrl!,
      "--prefix",
      prefix,
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    return (JSON.parse(result.stdout) as { items: Listed[] }).items;
  };

  test("weft worker list shows each live worker: queues, concurrency, host and pid, heartbeat", async () => {
    const items = await list();
    assert.deepEqual(
      items.map((w) => w.name),
      workers.map((w) => w.name).sort(),
    );
    for (const w of workers) {
      const item = items.find((i) => i.name === w.name)!;
      assert.deepEqual(item.queues, ["default", "gpu"]);
      assert.equal(item.concurrency, 3);
      assert.equal(item.pid, w.pid);
      assert.equal(item.active, 0, "an idle worker runs no job");
      assert.ok(item.lastHeartbeat !== undefined);
      assert.ok(Date.parse(item.lastHeartbeat) >= Date.parse(item.startedAt));
    }
    const table = await runCli(["worker", "list", "--redis", redisUrl!, "--prefix", prefix]);
    assert.match(table.stdout, /^NAME\tQUEUES\tACTIVE\tHOST\tPID\tSTARTED\tLAST HEARTBEAT\n/);
    assert.match(table.stdout, new RegExp(`${workers[0]!.name}\tdefault,gpu\t0/6\t`));
  });

  test("the dashboard of a server given their Redis lists them; a stopped worker leaves the list", async () => {
    const dashboard = await up.api.getDashboard();
    assert.equal(dashboard.workers.error, undefined);
    assert.match(dashboard.workers.source ?? "", new RegExp(`prefix ${prefix}\\)$`));
    assert.deepEqual(
      dashboard.workers.items.map((w) => w.name),
      workers.map((w) => w.name).sort(),
    );
    assert.deepEqual(dashboard.workers.items[0]!.queues, ["default", "gpu"]);

    const [gone, staying] = workers;
    const stopped = await gone!.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.deepEqual(
      (await up.api.getDashboard()).workers.items.map((w) => w.name),
      [staying!.name],
    );
    assert.deepEqual(
      (await list()).map((w) => w.name),
      [staying!.name],
    );
  });
});

describe("the dashboard without the workers' Redis", () => {
  const home = mkdtempSync(join(tmpdir(), "weft-workers-unlisted-"));
  after(async () => {
    await stopAll();
    rmSync(home, { recursive: true, force: true });
  });

  test("a server not given --redis says nothing of workers; one given an unreachable Redis starts and says why", async () => {
    const [plain, cut] = await Promise.all([
      startUp({ home: join(home, "a"), noAgent: true, env: { WEFT_REDIS_URL: "" } }),
      startUp({
        home: join(home, "b"),
        noAgent: true,
        args: ["--redis", "redis://:hunter2@127.0.0.1:1/2"],
      }),
    ]);
    assert.deepEqual((await plain.api.getDashboard()).workers, { items: [] });
    const answer = await cut.api.getDashboard();
    assert.equal(answer.workers.source, "redis://127.0.0.1:1/2 (prefix weft)");
    assert.deepEqual(answer.workers.items, []);
    assert.match(
      answer.workers.error ?? "",
      /^cannot read the workers from redis:\/\/127\.0\.0\.1:1\/2 \(prefix weft\): the dashboard's worker list cannot reach Redis/,
    );
    assert.ok(!JSON.stringify(answer).includes("hunter2"));
    assert.equal(answer.runningCount, 0, "the rest of the dashboard is answered");
  });
});
