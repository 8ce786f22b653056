// The local environment: the conformance suite against memory and local
// storage, plus what only an in-process environment promises (the flow runs in
// this very process, with the executor it was given).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { describe, test } from "node:test";
import { createLocalResultBackend } from "../../src/engine/results/local-result-backend.ts";
import { createLocalEnvironment } from "../../src/environments/local-environment.ts";
import { createEnvironment } from "../../src/environments/registry.ts";
import { flow, task } from "../../src/index.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import { createMemoryStorage } from "../../src/storage/memory-storage.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";
import { type GreetReport, greetFlow } from "../fixtures/environments/env-flows.ts";
import { runEnvironmentConformance } from "./environment.case.ts";
import { expectCode, readJson, withDirs } from "./environment-helpers.ts";

runEnvironmentConformance("local", {
  makeEnvironment: (options) => createLocalEnvironment(options),
  makeStorage: () => createMemoryStorage(),
  concurrency: 4,
});

describe("local environment", { concurrency: true }, () => {
  test("runs with local storage too (the local+local pair): the bundle is loaded here", async () => {
    await withDirs("local-local", async ({ tmp }) => {
      const storage = createLocalStorage({
        directory: join(tmp, "flows"),
        cacheDir: join(tmp, "cache"),
      });
      const location = storage.addFlow(greetFlow);
      await storage.build();
      const environment = createLocalEnvironment();
      await environment.setup(storage);
      const out = join(tmp, "out.json");
      const { state } = await environment.execute(storage, location, {
        flowRunId: randomUUID(),
        parameters: { name: "bundle", out },
      });
      assert.equal(state.type, "Success", state.message);
      const report = await readJson<GreetReport>(out);
      assert.equal(report?.greeting, "hello, bundle");
      assert.equal(report?.pid, process.pid);
    });
  });

  test("runs the flow in the calling process, on the main thread by default", async () => {
    await withDirs("local-pid", async ({ tmp }) => {
      const storage = createMemoryStorage();
      const location = storage.addFlow(greetFlow);
      await storage.build();
      const out = join(tmp, "out.json");
      const reporter = new RecordingReporter();
      const { state } = await createLocalEnvironment().execute(storage, location, {
        flowRunId: randomUUID(),
        parameters: { name: "here", out },
        reporter,
      });
      assert.equal(state.type, "Success", state.message);
      const report = await readJson<GreetReport>(out);
      assert.equal(report?.pid, process.pid, "the task ran in this process");
      assert.equal(report?.threadId, 0);
      // In process, console.log goes to this process's stdout, not to the reporter.
      assert.equal(
        reporter.logs().some((r) => r.fields?.stream === "stdout"),
        false,
      );
    });
  });

  test("every executor runs the flow: serial, concurrent, worker-threads (with options)", async () => {
    await withDirs("local-executors", async ({ tmp }) => {
      const storage = createMemoryStorage();
      const location = storage.addFlow(greetFlow);
      await storage.build();
      for (const executor of [
        "serial",
        "concurrent",
        { type: "concurrent", maxConcurrency: 1 },
        { type: "worker-threads", maxWorkers: 1 },
      ] as const) {
        const out = join(tmp, `${randomUUID()}.json`);
        const { state } = await createLocalEnvironment({ executor }).execute(storage, location, {
          flowRunId: randomUUID(),
          parameters: { name: JSON.stringify(executor), out },
        });
        assert.equal(state.type, "Success", `${JSON.stringify(executor)}: ${state.message}`);
        const report = await readJson<GreetReport>(out);
        const offMain = typeof executor === "object" && executor.type === "worker-threads";
        assert.equal((report?.threadId ?? 0) > 0, offMain, JSON.stringify(executor));
      }
    });
  });

  test("a malformed executor is refused when the environment is made", async () => {
    await expectCode(
      () => createLocalEnvironment({ executor: "gpu" as never }),
      "INVALID_EXECUTOR",
      "an unknown executor kind",
    );
    await expectCode(
      () =>
        createLocalEnvironment({ executor: { type: "worker-threads", maxWorkers: 0 } as never }),
      "INVALID_EXECUTOR",
      "maxWorkers 0",
    );
  });

  test("createEnvironment('local') refuses the options only a subprocess takes", async () => {
    for (const options of [{ heapLimitMb: 256 }, { timeoutMs: 1000 }, { env: { A: "1" } }]) {
      const error = await expectCode(
        () => createEnvironment("local", options),
        "USAGE",
        JSON.stringify(options),
      );
      assert.match(error.message, /--environment subprocess/);
      assert.ok(error.message.includes(Object.keys(options)[0]!), error.message);
    }
    assert.equal(createEnvironment("local").type, "local");
  });

  test("the local environment takes every storage: storageNeeds is none", async () => {
    const environment = createLocalEnvironment();
    assert.equal(environment.storageNeeds, "none");
    await environment.setup(createMemoryStorage());
    const json = greetFlow.serialize({ storage: createMemoryStorage(), environment });
    assert.deepEqual(json.environment, { type: "local", schemaVersion: 1, labels: [] });
  });
});

describe("local environment: restarted runs (ctx.resume)", () => {
  test("a restarted run reuses what its first attempt persisted and runs only the rest", async () => {
    await withDirs("local-resume", async ({ tmp }) => {
      const calls: string[] = [];
      let failLoad = true;
      const resumable = flow(
        `resume-${randomUUID()}`,
        () => {
          const extract = task("extract", () => {
            calls.push("extract");
            return [1, 2, 3];
          });
          const load = task("load", (rows: number[]) => {
            calls.push("load");
            if (failLoad) throw new Error("the warehouse is down");
            return rows.length;
          });
          return load(extract());
        },
        { result: createLocalResultBackend({ directory: join(tmp, "results") }) },
      );
      const storage = createMemoryStorage();
      const location = storage.addFlow(resumable);
      await storage.build();
      const environment = createLocalEnvironment();
      const flowRunId = randomUUID();
      const first = await environment.execute(storage, location, { flowRunId });
      assert.equal(first.state.type, "Failed");
      failLoad = false;
      const again = await environment.execute(storage, location, { flowRunId, resume: flowRunId });
      assert.equal(again.state.type, "Success", again.state.message);
      assert.deepEqual(
        calls,
        ["extract", "load", "load"],
        "extract ran once: its result was read back",
      );
    });
  });

  test("resume on a flow that persists no results runs every task (no error)", async () => {
    const calls: string[] = [];
    const plain = flow(`plain-${randomUUID()}`, () => task("only", () => calls.push("only"))());
    const storage = createMemoryStorage();
    const location = storage.addFlow(plain);
    await storage.build();
    const flowRunId = randomUUID();
    const { state } = await createLocalEnvironment().execute(storage, location, {
      flowRunId,
      resume: flowRunId,
    });
    assert.equal(state.type, "Success", state.message);
    assert.deepEqual(calls, ["only"]);
  });
});
