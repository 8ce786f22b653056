// The subprocess environment: the conformance suite against local storage, then
// what only a flow-run process can do wrong — die, hang, run out of memory,
// exit without a word, outlive its parent — each against a real `weft execute`
// child. Every test has its own storage directory and WEFT_HOME, and every pid
// a test learns is killed by pid in `after` if it is still there.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Flow } from "../../src/core/flow.ts";
import type { FlowRunInfo, TaskInfo } from "../../src/core/reporter.ts";
import { State } from "../../src/core/states.ts";
import type { ExecuteContext } from "../../src/environments/environment.ts";
import { environmentFromJSON } from "../../src/environments/registry.ts";
import {
  createSubprocessEnvironment,
  type SubprocessEnvironmentOptions,
} from "../../src/environments/subprocess/subprocess-environment.ts";
import type { SerializedState, WireReporter } from "../../src/serialization/index.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import { createMemoryStorage } from "../../src/storage/memory-storage.ts";
import { createModuleStorage } from "../../src/storage/module-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";
import {
  exitFlow,
  type GreetReport,
  garbageFlow,
  greetFlow,
  hangFlow,
  killedFlow,
  napFlow,
  oomFlow,
} from "../fixtures/environments/env-flows.ts";
import {
  assertGone,
  isAlive,
  readPids,
  reapAll,
  repoRoot,
  startNode,
} from "../support/weft-process.ts";
import { runEnvironmentConformance } from "./environment.case.ts";
import {
  expectCode,
  FLOWS_MODULE,
  RecordingLogger,
  readJson,
  type TestDirs,
  withDirs,
} from "./environment-helpers.ts";

/** A local storage with its bundles and cache under `tmp` (the child's cache is WEFT_HOME's). */
function localStorageIn(tmp: string): Storage {
  return createLocalStorage({
    directory: join(tmp, "flows"),
    cacheDir: join(tmp, "cache"),
    hostnameLabel: false,
  });
}

runEnvironmentConformance("subprocess", {
  makeEnvironment: (options) => createSubprocessEnvironment({ killGraceMs: 5_000, ...options }),
  makeStorage: ({ tmp }) => localStorageIn(tmp),
  unfitStorage: () => createMemoryStorage(),
  concurrency: 3,
});

/** Generous: a child takes seconds to start on a loaded machine. */
const TEST_TIMEOUT_MS = 120_000;

/** Stores `flow` in a fresh local storage and runs it once through a subprocess environment. */
async function runInChild(
  dirs: TestDirs,
  flow: Flow<unknown>,
  options: SubprocessEnvironmentOptions,
  ctx: Partial<ExecuteContext> = {},
) {
  const storage = localStorageIn(dirs.tmp);
  const location = storage.addFlow(flow);
  await storage.build();
  const environment = createSubprocessEnvironment({
    ...options,
    env: { WEFT_HOME: dirs.home, ...options.env },
  });
  const reporter = new RecordingReporter();
  const logger = new RecordingLogger();
  const full: ExecuteContext = { flowRunId: `run-${randomUUID()}`, reporter, logger, ...ctx };
  const running = environment.execute(storage, location, full);
  return { running, environment, reporter, logger, ctx: full, storage, location };
}

const logged = (logger: RecordingLogger) =>
  logger.lines.map((l) => `${l.level} ${l.message}`).join("\n");

describe("subprocess environment", { concurrency: 4 }, () => {
  after(reapAll);

  test("runs the flow in a fresh process, which gets WEFT_HOME, the env option and ctx.env", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-env", async (dirs) => {
      const out = join(dirs.tmp, "out.json");
      const { running, logger } = await runInChild(
        dirs,
        greetFlow,
        {
          env: { WEFT_TEST_MARKER: "from-options" },
          cwd: dirs.tmp,
          executor: { type: "concurrent", maxConcurrency: 1 },
        },
        { parameters: { name: "child", out }, env: { WEFT_TEST_CTX: "yes" } },
      );
      const { state } = await running;
      assert.equal(state.type, "Success", `${state.message}\n${logged(logger)}`);
      const report = await readJson<GreetReport>(out);
      assert.ok(report, "the task wrote its report");
      assert.notEqual(report.pid, process.pid, "the task ran in another process");
      assert.equal(report.home, dirs.home, "the child's WEFT_HOME is the test's");
      assert.equal(report.marker, "from-options");
      assert.equal(report.cwd, dirs.tmp, "the cwd option is the child's working directory");
      assert.equal(report.threadId, 0);
    });
  });

  test("an env:NAME value is read from this process's environment (an unset NAME leaves the variable out)", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-env-ref", async (dirs) => {
      const out = join(dirs.tmp, "out.json");
      const source = `WEFT_TEST_SOURCE_${randomUUID().replaceAll("-", "_")}`;
      process.env[source] = "from-the-agent";
      try {
        const { running, logger } = await runInChild(
          dirs,
          greetFlow,
          { env: { WEFT_TEST_MARKER: `env:${source}`, WEFT_TEST_CTX: "env:WEFT_TEST_UNSET_NAME" } },
          { parameters: { name: "reference", out } },
        );
        const { state } = await running;
        assert.equal(state.type, "Success", `${state.message}\n${logged(logger)}`);
        assert.equal((await readJson<GreetReport>(out))?.marker, "from-the-agent");
      } finally {
        delete process.env[source];
      }
    });
  });

  test("ctx.env wins over the env option, and neither can override the WEFT_* variables it sets", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-env-order", async (dirs) => {
      const out = join(dirs.tmp, "out.json");
      const { running, logger, ctx, reporter } = await runInChild(
        dirs,
        greetFlow,
        { env: { WEFT_TEST_MARKER: "options", WEFT_FLOW_RUN_ID: "hijacked" } },
        {
          parameters: { name: "order", out },
          env: { WEFT_TEST_MARKER: "ctx", WEFT_HOME: dirs.home },
        },
      );
      const { state } = await running;
      assert.equal(state.type, "Success", `${state.message}\n${logged(logger)}`);
      assert.equal((await readJson<GreetReport>(out))?.marker, "ctx");
      const record = reporter.logs().find((r) => r.message === "greeting order");
      assert.equal(record?.flowRunId, ctx.flowRunId, "WEFT_FLOW_RUN_ID is the run's id");
    });
  });

  test("a task's console.log and console.error reach the reporter and the logger, tagged with the run", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-stdout", async (dirs) => {
      const { running, reporter, logger, ctx } = await runInChild(
        dirs,
        greetFlow,
        {},
        { parameters: { name: "streams" } },
      );
      const { state } = await running;
      assert.equal(state.type, "Success", `${state.message}\n${logged(logger)}`);
      const out = reporter.logs().find((r) => r.message === "stdout says hello to streams");
      assert.ok(out, `a stdout record among ${JSON.stringify(reporter.logs())}`);
      assert.equal(out.fields?.stream, "stdout");
      assert.equal(out.level, "info");
      assert.equal(out.flowRunId, ctx.flowRunId);
      assert.equal(typeof out.fields?.pid, "number");
      const err = reporter.logs().find((r) => r.message === "stderr says hello to streams");
      assert.ok(err, "a stderr record");
      assert.equal(err.fields?.stream, "stderr");
      assert.equal(err.level, "warn");
      assert.equal(err.flowRunId, ctx.flowRunId);
      const line = logger.lines.find((l) => l.message === "stdout says hello to streams");
      assert.equal(line?.fields?.flowRunId, ctx.flowRunId, "the logger hears it with the run id");
      assert.equal(line?.fields?.stream, "stdout");
    });
  });

  test("a line on the event channel that is not an event is ignored and logged", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-garbage", async (dirs) => {
      const { running, logger, reporter } = await runInChild(dirs, garbageFlow, {});
      const { state } = await running;
      assert.equal(state.type, "Success", `${state.message}\n${logged(logger)}`);
      assert.deepEqual(reporter.taskTypes("scribble-1"), ["Running", "Success"]);
      assert.ok(
        logger.lines.some((l) => l.level === "warn" && /ignored a malformed event/.test(l.message)),
        logged(logger),
      );
    });
  });

  test("the child's events reach a reporter that takes wire states as data; its final state comes once, from the outcome", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-wire", async (dirs) => {
      /** Records wire states as they came, and State objects as the recording reporter does. */
      class WireRecorder extends RecordingReporter implements WireReporter {
        readonly wire: { kind: "flow" | "task"; slug?: string; state: SerializedState }[] = [];
        wireTaskState(
          _run: FlowRunInfo,
          task: TaskInfo,
          _mapIndex: number | undefined,
          state: SerializedState,
        ) {
          this.wire.push({ kind: "task", slug: task.slug, state });
        }
        wireFlowState(_run: FlowRunInfo, state: SerializedState) {
          this.wire.push({ kind: "flow", state });
        }
      }
      const reporter = new WireRecorder();
      const out = join(dirs.tmp, "wire.json");
      const { running, logger } = await runInChild(
        dirs,
        greetFlow,
        {},
        { reporter, parameters: { name: "wire", out } },
      );
      const { state } = await running;
      assert.equal(state.type, "Success", `${state.message}\n${logged(logger)}`);
      const greet = reporter.wire.filter((w) => w.slug === "greet-1");
      assert.deepEqual(
        greet.map((w) => w.state.type),
        ["Running", "Success"],
      );
      assert.ok(
        greet.every((w) => !(w.state instanceof State) && w.state.schemaVersion === 1),
        "task states arrive in their wire form, not rebuilt",
      );
      assert.deepEqual(
        reporter.wire.filter((w) => w.kind === "flow").map((w) => w.state.type),
        ["Running"],
        "the child's final flow event is the outcome, not an event passed on",
      );
      assert.deepEqual(reporter.taskTypes("greet-1"), [], "no task state was rebuilt");
      assert.deepEqual(reporter.flowTypes(), ["Success"], "the final state, once");
      const final = reporter.events.find((e) => e.kind === "flow");
      assert.equal(final?.kind === "flow" && final.state, state, "the very state execute resolved");
      assert.ok(
        final?.kind === "flow" && final.run.taskCount >= 4,
        "the child's task count is known",
      );
    });
  });

  test("heapLimitMb: a task that allocates until OOM fails the run with 'ran out of memory'", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-oom", async (dirs) => {
      const { running, logger } = await runInChild(dirs, oomFlow, { heapLimitMb: 64 });
      const { state } = await running;
      assert.equal(state.type, "Failed", `${state.message}\n${logged(logger)}`);
      assert.match(state.message ?? "", /ran out of memory/);
      assert.match(state.message ?? "", /64 MB/);
      assert.equal(state.error?.message, state.message);
    });
  });

  test("heapLimitMb with worker-threads: the worker's OOM fails the task, saying so, and the run ends Failed", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-oom-worker", async (dirs) => {
      const { running, logger, reporter } = await runInChild(dirs, oomFlow, {
        heapLimitMb: 64,
        executor: "worker-threads",
      });
      const { state } = await running;
      assert.equal(state.type, "Failed", `${state.message}\n${logged(logger)}`);
      const hog = reporter.taskStates("hog-1").at(-1);
      assert.equal(hog?.type, "Failed");
      assert.match(hog?.message ?? "", /out of memory/);
    });
  });

  test("a child that dies without a final state: the reporter still hears the state execute resolves with", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-died-reported", async (dirs) => {
      const { running, reporter } = await runInChild(
        dirs,
        exitFlow,
        {},
        { parameters: { code: 0 } },
      );
      const { state } = await running;
      assert.equal(state.type, "Failed");
      const last = reporter.events.filter((e) => e.kind === "flow").at(-1);
      assert.ok(last?.kind === "flow", "the reporter heard a flow state");
      assert.equal(
        last.state.type,
        "Failed",
        `flow states heard: ${reporter.flowTypes().join(", ")}`,
      );
      assert.equal(last.state.message, state.message);
    });
  });

  test("a cwd that does not exist fails the run saying the process could not start, naming the cwd", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-cwd", async (dirs) => {
      const cwd = join(dirs.tmp, "no-such-dir");
      const { running } = await runInChild(dirs, greetFlow, { cwd });
      const { state } = await running;
      assert.equal(state.type, "Failed");
      assert.doesNotMatch(state.message ?? "", /exited with code/);
      assert.ok(state.message?.includes(cwd), `names the cwd: ${state.message}`);
    });
  });

  test("a child that hangs is killed with its whole tree at the hard timeout: TimedOut", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-hang", async (dirs) => {
      const pidFile = join(dirs.tmp, "pids");
      // Long enough for a loaded machine to start the child and its task.
      const timeoutMs = 15_000;
      const { running, logger } = await runInChild(
        dirs,
        hangFlow,
        { timeoutMs },
        { parameters: { pidFile } },
      );
      const started = Date.now();
      const pids = await readPids(pidFile, 2);
      const { state } = await running;
      const took = Date.now() - started;
      assert.equal(state.type, "TimedOut", `${state.message}\n${logged(logger)}`);
      assert.ok(state.isFailed(), "TimedOut is a Failed state");
      assert.match(state.message ?? "", /hard timeout/);
      assert.match(state.message ?? "", /15000 ms/);
      assert.ok(took < timeoutMs + 10_000, `killed near the timeout, after ${took} ms`);
      await assertGone(pids, "the flow-run process and its grandchild sleep 60");
    });
  });

  test("a child that exits 0 without reporting a final state fails the run, saying so", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-exit0", async (dirs) => {
      const { running, logger } = await runInChild(dirs, exitFlow, {}, { parameters: { code: 0 } });
      const { state } = await running;
      assert.equal(state.type, "Failed", `${state.message}\n${logged(logger)}`);
      assert.match(state.message ?? "", /exited 0 without reporting a final state/);
    });
  });

  test("a child that exits non-zero or is killed by a signal fails the run, saying how it died; a killed one crashed", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-died", async (dirs) => {
      const exited = await runInChild(dirs, exitFlow, {}, { parameters: { code: 3 } });
      const killed = await runInChild(
        { tmp: join(dirs.tmp, "killed"), home: join(dirs.tmp, "killed", "home") },
        killedFlow,
        {},
      );
      const [a, b] = await Promise.all([exited.running, killed.running]);
      assert.equal(a.state.type, "Failed", `${a.state.message}\n${logged(exited.logger)}`);
      assert.match(a.state.message ?? "", /exited with code 3/);
      assert.equal(b.state.type, "Failed", `${b.state.message}\n${logged(killed.logger)}`);
      assert.match(b.state.message ?? "", /killed by SIGKILL/);
      assert.equal(b.state.error?.type, "ProcessExit");
      // Exiting with a code is the flow-run process's own answer; a signal interrupted it.
      assert.equal(a.crashed, undefined);
      assert.equal(b.crashed, true);
    });
  });

  test("a storage that cannot load in the child fails the run with a clear message", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-noload", async (dirs) => {
      const storage = localStorageIn(dirs.tmp);
      const location = storage.addFlow(greetFlow);
      await storage.build();
      const artifact = location.slice(0, location.lastIndexOf("#"));
      // Gone from the storage directory; the child's cache (a fresh WEFT_HOME) is empty.
      await rm(join(dirs.tmp, "flows", artifact));
      const environment = createSubprocessEnvironment({ env: { WEFT_HOME: dirs.home } });
      const logger = new RecordingLogger();
      const { state } = await environment.execute(storage, location, {
        flowRunId: randomUUID(),
        logger,
      });
      assert.equal(state.type, "Failed", `${state.message}\n${logged(logger)}`);
      const message = state.message ?? "";
      assert.match(message, /exited with code 1/);
      assert.ok(message.includes(artifact), `names the bundle: ${message}`);
      assert.ok(message.includes(join(dirs.tmp, "flows")), `names the directory: ${message}`);
      assert.match(message, /STORAGE_FLOW_MISSING/);
    });
  });

  test("cancelling through ctx.signal stops the child and its grandchild: Cancelled", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-cancel", async (dirs) => {
      const pidFile = join(dirs.tmp, "pids");
      const controller = new AbortController();
      const { running, logger } = await runInChild(
        dirs,
        napFlow,
        { killGraceMs: 3_000 },
        { parameters: { ms: 60_000, pidFile, grandchild: true }, signal: controller.signal },
      );
      const pids = await readPids(pidFile, 2);
      controller.abort();
      const { state } = await running;
      assert.equal(state.type, "Cancelled", `${state.message}\n${logged(logger)}`);
      await assertGone(pids, "the cancelled child and its grandchild");
    });
  });

  test("a child that ignores SIGTERM is killed after killGraceMs: Cancelled", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-grace", async (dirs) => {
      const pidFile = join(dirs.tmp, "pids");
      const controller = new AbortController();
      const { running, logger } = await runInChild(
        dirs,
        hangFlow,
        { killGraceMs: 500 },
        { parameters: { pidFile }, signal: controller.signal },
      );
      const pids = await readPids(pidFile, 2);
      controller.abort();
      const { state } = await running;
      assert.equal(state.type, "Cancelled", `${state.message}\n${logged(logger)}`);
      await assertGone(pids, "the stubborn child and its grandchild");
    });
  });

  test("teardown(ctx) kills the run's process tree while it runs", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-teardown", async (dirs) => {
      const pidFile = join(dirs.tmp, "pids");
      const { running, environment, ctx, logger } = await runInChild(
        dirs,
        napFlow,
        {},
        { parameters: { ms: 60_000, pidFile, grandchild: true } },
      );
      const pids = await readPids(pidFile, 2);
      await environment.teardown?.(ctx);
      const { state } = await running;
      assert.equal(state.type, "Failed", `${state.message}\n${logged(logger)}`);
      assert.match(state.message ?? "", /killed by SIGKILL/);
      await assertGone(pids, "the torn-down child and its grandchild");
      await environment.teardown?.(ctx);
    });
  });

  test("a parent killed with SIGKILL leaves no orphan: the child and its grandchild are reaped", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-orphan", async (dirs) => {
      const parent = startNode("test/fixtures/environments/orphan-parent.ts", [dirs.tmp], {
        nodeArgs: ["--import", "tsx"],
      });
      const pids = await Promise.race([
        readPids(join(dirs.tmp, "pids"), 2),
        parent.done.then((ended) =>
          assert.fail(`the parent ended before the flow ran:\n${ended.stderr}`),
        ),
      ]);
      assert.ok(pids.every(isAlive), "the child and the grandchild run");
      parent.kill("SIGKILL");
      await parent.done;
      await assertGone(pids, "the orphaned child and grandchild", 5_000);
    });
  });

  test("runs a flow from module storage (the subprocess+module pair)", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-module", async (dirs) => {
      const storage = createModuleStorage({ module: `./${FLOWS_MODULE}`, basedir: repoRoot });
      const location = storage.addFlow(greetFlow);
      await storage.build();
      const environment = createSubprocessEnvironment({ env: { WEFT_HOME: dirs.home } });
      await environment.setup(storage);
      const out = join(dirs.tmp, "out.json");
      const logger = new RecordingLogger();
      const { state } = await environment.execute(storage, location, {
        flowRunId: randomUUID(),
        parameters: { name: "module", out },
        logger,
      });
      assert.equal(state.type, "Success", `${state.message}\n${logged(logger)}`);
      const report = await readJson<GreetReport>(out);
      assert.equal(report?.greeting, "hello, module");
      assert.notEqual(report?.pid, process.pid);
    });
  });

  test("malformed options are refused when the environment is made", async () => {
    for (const [options, field] of [
      [{ timeoutMs: -1 }, "timeoutMs"],
      [{ heapLimitMb: 12.5 }, "heapLimitMb"],
      [{ killGraceMs: -100 }, "killGraceMs"],
      [{ timeoutMs: Number.NaN }, "timeoutMs"],
    ] as const) {
      const error = await expectCode(
        () => createSubprocessEnvironment(options),
        "INVALID_FLOW_OPTIONS",
        JSON.stringify(options),
      );
      assert.ok(error.message.includes(field), `names ${field}: ${error.message}`);
    }
    await expectCode(
      () => createSubprocessEnvironment({ executor: "gpu" as never }),
      "INVALID_EXECUTOR",
      "an unknown executor",
    );
  });

  test("what the constructor accepts, environmentFromJSON accepts (one validation at the boundary)", async () => {
    for (const options of [
      { timeoutMs: 0 },
      { heapLimitMb: 8 },
      { env: { "NOT-A-NAME": "x" } },
      { labels: [""] },
    ]) {
      let made: ReturnType<typeof createSubprocessEnvironment> | undefined;
      try {
        made = createSubprocessEnvironment(options);
      } catch {
        continue; // refused up front: consistent with the schema
      }
      assert.doesNotThrow(
        () => environmentFromJSON(made.toJSON()),
        `${JSON.stringify(options)} was accepted by the constructor, so its JSON must load`,
      );
    }
  });

  test("the pairing is checked from capabilities: memory is refused, local and module fit", async () => {
    const environment = createSubprocessEnvironment();
    assert.equal(environment.storageNeeds, "shareable");
    await expectCode(
      () => environment.setup(createMemoryStorage()),
      "STORAGE_NOT_SHAREABLE",
      "memory storage",
    );
    await environment.setup(localStorageIn("/nonexistent-dir-is-fine-for-setup"));
    await environment.setup(
      createModuleStorage({ module: `./${FLOWS_MODULE}`, basedir: repoRoot }),
    );
    // A storage is judged by what it says it can do, not by its class.
    const claimsShareable = { type: "memory", name: "shared", shareable: true, remote: false };
    await environment.setup(claimsShareable as unknown as Storage);
  });
});

describe("subprocess environment, in a parent that is itself a flow-run process", () => {
  // Runs after the suites above (top-level suites of a file run one after the
  // other), so that no other test's child sees this process's variables.
  let previous: string | undefined;
  before(() => {
    previous = process.env.WEFT_EXECUTOR;
    process.env.WEFT_EXECUTOR = "worker-threads";
  });
  after(() => {
    if (previous === undefined) delete process.env.WEFT_EXECUTOR;
    else process.env.WEFT_EXECUTOR = previous;
    reapAll();
  });

  test("the parent's own WEFT_EXECUTOR does not leak into a child whose environment sets none", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await withDirs("sub-leak", async (dirs) => {
      const out = join(dirs.tmp, "out.json");
      const { running, logger } = await runInChild(
        dirs,
        greetFlow,
        {},
        { parameters: { name: "leak", out, echo: false } },
      );
      const { state } = await running;
      assert.equal(state.type, "Success", `${state.message}\n${logged(logger)}`);
      assert.equal(
        (await readJson<GreetReport>(out))?.threadId,
        0,
        "the default executor runs tasks on the main thread",
      );
    });
  });
});
