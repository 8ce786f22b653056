// `weft worker start` (a real process: it serves until a signal) and `weft run
// --environment distributed` (in process, test/support/cli.ts), against a real
// Redis. Each test uses its own queue, so that no other test's worker takes its
// jobs.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  dropPrefix,
  noRedis,
  reapWorkers,
  redisUrl,
  startWorkers,
} from "../fixtures/distributed/worker-processes.ts";
import { runCli } from "../support/cli.ts";
import { runWeft } from "../support/weft-process.ts";

const FLOWS = "test/fixtures/distributed/dist-flows.ts";

describe("weft worker start: usage", () => {
  test("without a Redis URL it is bad usage, with a hint", async () => {
    const result = await runCli(["worker", "start"], { env: { WEFT_REDIS_URL: "" } });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /error: weft worker start needs a Redis URL \(USAGE\)/);
    assert.match(result.stderr, /hint: pass --redis/);
  });

  test("an unreachable Redis is named, without its password", async () => {
    // A start-up failure: through the real binary.
    const result = await runWeft(["worker", "start", "--redis", "redis://:hunter2@127.0.0.1:1"]);
    assert.notEqual(result.code, 0);
    assert.match(
      result.stderr,
      /error: weft worker cannot reach Redis at redis:\/\/127\.0\.0\.1:1 .*\(REDIS_UNREACHABLE\)/,
    );
    assert.ok(!result.stderr.includes("hunter2"));
  });

  test("--help has an example", async () => {
    const result = await runCli(["worker", "start", "--help"]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /Examples:\n {2}weft worker start --redis redis:\/\//);
  });
});

describe("weft run --environment distributed", { skip: noRedis }, () => {
  const queue = `cli-${randomUUID().slice(0, 8)}`;
  let tmp = "";
  before(async () => {
    tmp = await mkdtemp(join(tmpdir(), "weft-cli-worker-"));
  });
  after(async () => {
    reapWorkers();
    await dropPrefix("weft:" + queue);
    await rm(tmp, { recursive: true, force: true });
  });

  const run = (...extra: string[]) =>
    runCli(
      [
        "run",
        FLOWS,
        "--flow",
        "dist-squares",
        "--environment",
        "distributed",
        "--storage",
        "local",
        "--dir",
        join(tmp, "flows"),
        "--no-hostname-label",
        "--redis",
        redisUrl!,
        "--param",
        "count=12",
        ...extra,
      ],
      { env: { WEFT_HOME: join(tmp, "home") } },
    );

  test("without a worker for the queue, setup says so before anything runs", async () => {
    const result = await run("--queue", `${queue}-nobody`);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /error: no live weft worker serves queue "cli-[0-9a-f]+-nobody" .*\(NO_LIVE_WORKER\)/,
    );
    assert.match(
      result.stderr,
      /hint: start one: weft worker start --redis redis:\/\/.* --queues cli-[0-9a-f]+-nobody/,
    );
  });

  test("memory storage is refused up front", async () => {
    const result = await runCli(
      [
        "run",
        FLOWS,
        "--flow",
        "dist-squares",
        "--environment",
        "distributed",
        "--storage",
        "memory",
        "--redis",
        redisUrl!,
      ],
      { env: { WEFT_HOME: join(tmp, "home") } },
    );
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /distributed environment .* memory storage .*\(STORAGE_NOT_SHAREABLE\)/,
    );
  });

  test("a worker runs the flow's tasks, logs each with the run and slug, and stops on SIGTERM with 0", async () => {
    const [worker] = await startWorkers(1, {
      prefix: "weft",
      home: join(tmp, "worker-home"),
      queues: [queue],
    });
    const result = await run("--queue", queue, "--json");
    assert.equal(result.code, 0, result.stderr);
    const doc = JSON.parse(result.stdout) as {
      flowRunId: string;
      state: { type: string };
      tasks: { slug: string; type: string }[];
    };
    assert.equal(doc.state.type, "Success");
    assert.equal(doc.tasks.find((t) => t.slug === "total-1")?.type, "Success");
    const stopped = await worker!.stop();
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.match(stopped.stderr, new RegExp(`flow run ${doc.flowRunId}: task numbers-1 ok`));
    assert.match(
      stopped.stderr,
      new RegExp(`flow run ${doc.flowRunId}: \\d+ tasks of square-1\\[\\d+\\.\\.\\d+\\] ok`),
    );
    assert.match(stopped.stderr, /worker .* stopped/);
  });
});
