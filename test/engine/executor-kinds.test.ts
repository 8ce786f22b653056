// Executor kinds as descriptors (core/executor-spec.ts): one schema per kind is what
// the engine resolves with and what an environment's JSON is checked against, so
// the two cannot disagree; capabilities are known from the type alone and match
// what the executors do; the messages users see are the resolver's.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  EXECUTOR_KINDS,
  EXECUTOR_SPECS,
  type ExecutorSpec,
  FLOW_EXECUTOR_KINDS,
  parseExecutorSpec,
} from "../../src/core/executor-spec.ts";
import { createExecutor } from "../../src/engine/executors/create-executor.ts";
import { resolveExecutorOptions } from "../../src/engine/executors/executor.ts";
import { localEnvironmentSchema } from "../../src/environments/local-environment.ts";
import { subprocessEnvironmentSchema } from "../../src/environments/subprocess/subprocess-environment.ts";

const specs: unknown[] = [
  "serial",
  "concurrent",
  "worker-threads",
  "distributed",
  "gpu",
  { type: "serial" },
  { type: "serial", maxWorkers: 2 },
  { type: "serial", maxConcurrency: 2 },
  { type: "concurrent", maxConcurrency: 8 },
  { type: "concurrent", maxWorkers: 2 },
  { type: "concurrent", maxConcurrency: 0 },
  { type: "worker-threads", maxWorkers: 2, maxConcurrency: 4 },
  { type: "worker-threads", maxWorkers: 1.5 },
  { type: "worker-threads", threads: 2 },
];

function accepts(check: () => unknown): boolean {
  try {
    check();
    return true;
  } catch {
    return false;
  }
}

describe("executor kinds", () => {
  test("every kind has one descriptor, and a flow may name all but distributed", () => {
    assert.deepEqual(Object.keys(EXECUTOR_SPECS).sort(), [...EXECUTOR_KINDS].sort());
    for (const kind of EXECUTOR_KINDS) assert.equal(EXECUTOR_SPECS[kind].type, kind);
    assert.deepEqual(FLOW_EXECUTOR_KINDS, ["serial", "concurrent", "worker-threads"]);
  });

  test("what the engine resolves, an environment's JSON accepts, and the other way round", () => {
    for (const spec of specs) {
      const engine = accepts(() => resolveExecutorOptions(spec as ExecutorSpec));
      for (const [kind, schema] of [
        ["local", localEnvironmentSchema],
        ["subprocess", subprocessEnvironmentSchema],
      ] as const) {
        const json = schema.safeParse({
          type: kind,
          schemaVersion: 1,
          labels: [],
          executor: spec,
        }).success;
        assert.equal(json, engine, `${kind} JSON vs engine for ${JSON.stringify(spec)}`);
      }
    }
  });

  test("capabilities are known from the type and match the executor it makes", async () => {
    for (const kind of FLOW_EXECUTOR_KINDS) {
      const executor = createExecutor(kind);
      try {
        assert.equal(executor.kind, kind);
        assert.equal(executor.hardTimeouts, EXECUTOR_SPECS[kind].capabilities.hardTimeouts, kind);
        assert.equal(EXECUTOR_SPECS[kind].capabilities.inProcess, true, kind);
        assert.equal(
          EXECUTOR_SPECS[kind].capabilities.sameThread,
          kind !== "worker-threads",
          `${kind}: bodies on the run's thread`,
        );
      } finally {
        await executor.close();
      }
    }
    assert.equal(EXECUTOR_SPECS.distributed.capabilities.needsShareableStorage, true);
    assert.equal(EXECUTOR_SPECS.distributed.capabilities.inProcess, false);
  });

  test("one schema, the messages users saw: unknown kind, unknown option, bad number", () => {
    assert.throws(() => parseExecutorSpec("gpu" as never), {
      code: "INVALID_EXECUTOR",
      message: 'unknown executor "gpu"',
      hint: "known executors: serial, concurrent, worker-threads, distributed",
    });
    assert.throws(() => parseExecutorSpec({ type: "concurrent", maxWorkers: 2 } as never), {
      code: "INVALID_EXECUTOR",
      message: 'executor concurrent has no option "maxWorkers"',
      hint: "its options: maxConcurrency",
    });
    assert.throws(() => parseExecutorSpec({ type: "worker-threads", maxWorkers: 0 }), {
      code: "INVALID_EXECUTOR",
      message: "executor worker-threads: maxWorkers must be a positive integer, got 0",
    });
    assert.throws(() => createExecutor("distributed"), {
      code: "INVALID_EXECUTOR",
      message:
        "the distributed executor needs a Redis URL and the flow's storage: run the flow through the distributed environment",
    });
    assert.throws(
      () => createExecutor({ type: "distributed", redisUrl: "" } as never),
      (error: Error & { code?: string; hint?: string }) =>
        error.code === "INVALID_EXECUTOR" &&
        /^executor distributed: /.test(error.message) &&
        /--environment distributed/.test(error.hint ?? ""),
    );
  });
});
