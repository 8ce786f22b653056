// The worker-threads executor sends calls in batches: what happens to the other
// calls of a batch when one of them times out, ends its thread or returns what
// cannot be cloned; retries in later batches; and how a thread finds a task's
// function without building the flow's graph.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ExecutorSpec } from "../../src/index.ts";
import {
  builtOnce,
  exitInBatch,
  localTasks,
  retriesAcrossBatches,
  timeoutInBatch,
  uncloneableInBatch,
} from "../fixtures/engine/worker-batch-flows.ts";

// A hang must fail the test, not stall the suite (each test starts a thread: seconds on a loaded machine).
// One thread: every call of a wave is in one batch, in the order the walk started them.
const oneThread: ExecutorSpec = { type: "worker-threads", maxWorkers: 1 };

let dir = "";
let files = 0;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "weft-worker-batches-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function newLog(): string {
  return join(dir, `log-${++files}`);
}

/** How many times each `slug:index:attempt` line was recorded. */
function attempts(log: string): Map<string, number> {
  const counts = new Map<string, number>();
  let text = "";
  try {
    text = readFileSync(log, "utf8");
  } catch {
    return counts;
  }
  for (const line of text.split("\n")) {
    if (line !== "") counts.set(line, (counts.get(line) ?? 0) + 1);
  }
  return counts;
}

describe("worker-threads executor: batches", { timeout: 180_000 }, () => {
  test("a hard timeout in the middle of a batch: that call TimedOut, every other call runs exactly once", async () => {
    const log = newLog();
    const run = await timeoutInBatch.run({ executor: oneThread, parameters: { log } });
    const spun = run.stateOf(timeoutInBatch.outputs.spun);
    assert.equal(spun.type, "TimedOut");
    assert.match(spun.message ?? "", /hard timeout after 300 ms/);
    const marks = [...timeoutInBatch.outputs.before, ...timeoutInBatch.outputs.after];
    for (const [i, ref] of marks.entries()) assert.equal(run.result(ref), i * 10, ref.slug);
    const counts = attempts(log);
    for (const ref of marks) assert.equal(counts.get(`${ref.slug}:-:1`), 1, `${ref.slug} ran once`);
    assert.equal(counts.get("spin-in-batch-1:-:1"), 1);
    assert.equal(counts.size, 21, [...counts.keys()].join(" "));
  });

  test("a thread that exits in the middle of a batch fails only that call; the others run exactly once", async () => {
    const log = newLog();
    const run = await exitInBatch.run({ executor: oneThread, parameters: { log } });
    const exited = run.stateOf(exitInBatch.outputs.exited);
    assert.equal(exited.type, "Failed");
    assert.equal(exited.error?.code, "WORKER_FAILED");
    assert.match(exited.message ?? "", /exit-in-batch-1 exited with code 3/);
    const marks = [...exitInBatch.outputs.before, ...exitInBatch.outputs.after];
    for (const [i, ref] of marks.entries()) assert.equal(run.result(ref), i * 10, ref.slug);
    const counts = attempts(log);
    // The calls before it posted their outcomes as the thread exited: none runs again.
    for (const ref of marks) assert.equal(counts.get(`${ref.slug}:-:1`), 1, `${ref.slug} ran once`);
    assert.equal(counts.size, 21, [...counts.keys()].join(" "));
  });

  test("retries of calls from several batches come back in later batches, each attempt once", async () => {
    const log = newLog();
    const n = 600;
    const run = await retriesAcrossBatches.run({ executor: oneThread, parameters: { log, n } });
    assert.equal(run.state.type, "Success");
    const ys = run.result(retriesAcrossBatches.outputs.ys);
    assert.deepEqual(
      ys,
      Array.from({ length: n }, (_, x) => x + 1000),
    );
    const children = run.stateOf(retriesAcrossBatches.outputs.ys).children ?? [];
    assert.equal(children.length, n);
    children.forEach((child, x) => {
      assert.equal(child.type, "Success");
      assert.equal(child.attempts, x % 3 === 0 ? 2 : 1, `child ${x}`);
    });
    const counts = attempts(log);
    for (let x = 0; x < n; x++) {
      assert.equal(counts.get(`flaky-1:${x}:1`), 1);
      assert.equal(counts.get(`flaky-1:${x}:2`), x % 3 === 0 ? 1 : undefined);
    }
  });

  test("a result that cannot be cloned fails its call only; the rest of the batch crosses", async () => {
    const log = newLog();
    const run = await uncloneableInBatch.run({ executor: oneThread, parameters: { log } });
    const children = run.stateOf(uncloneableInBatch.outputs.ys).children ?? [];
    assert.equal(children.length, 12);
    children.forEach((child, x) => {
      if (x === 5) {
        assert.equal(child.type, "Failed");
        assert.equal(child.error?.code, "VALUE_NOT_CLONEABLE");
        assert.match(child.message ?? "", /sometimes-a-function-1 cannot cross/);
        assert.equal(child.attempts, 1, "an uncloneable result is not retried");
      } else {
        assert.equal(child.type, "Success", `child ${x}`);
      }
    });
    const counts = attempts(log);
    for (let x = 0; x < 12; x++) assert.equal(counts.get(`sometimes-a-function-1:${x}:1`), 1);
  });

  test("a thread finds top-level tasks by name and never builds the graph", async () => {
    const log = newLog();
    process.env.WEFT_TEST_BUILD_LOG = log;
    try {
      builtOnce.build();
      const run = await builtOnce.run({ executor: { type: "worker-threads", maxWorkers: 2 } });
      assert.deepEqual(
        run.result(builtOnce.outputs.ys),
        Array.from({ length: 50 }, (_, x) => 3 * x),
      );
    } finally {
      delete process.env.WEFT_TEST_BUILD_LOG;
    }
    // Only this (the main) thread ran the builder.
    assert.deepEqual(readFileSync(log, "utf8").trim().split("\n"), ["0"]);
  });

  test("a task made in the builder, and two tasks sharing a name, are found in the graph the thread builds", async () => {
    const log = newLog();
    process.env.WEFT_TEST_BUILD_LOG = log;
    try {
      localTasks.build();
      const run = await localTasks.run({ executor: oneThread });
      const xs = Array.from({ length: 20 }, (_, x) => x);
      assert.deepEqual(
        run.result(localTasks.outputs.squares),
        xs.map((x) => x * x),
      );
      assert.deepEqual(
        run.result(localTasks.outputs.a),
        xs.map((x) => `a${x}`),
      );
      assert.deepEqual(
        run.result(localTasks.outputs.b),
        xs.map((x) => `b${x}`),
      );
    } finally {
      delete process.env.WEFT_TEST_BUILD_LOG;
    }
    const builders = readFileSync(log, "utf8").trim().split("\n");
    assert.equal(builders[0], "0");
    assert.equal(builders.length, 2, "the thread built the graph once");
    assert.notEqual(builders[1], "0");
  });
});
