import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { readdirSync } from "node:fs";
import { describe, test } from "node:test";
import { threadId } from "node:worker_threads";
import { type ExecutorSpec, flow, isWeftError, task } from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";
import {
  buildsInProcess,
  buildsOnThreads,
  contextFlow,
  endless,
  hardTimeout,
  parity,
  shortTimeouts,
  signals,
  threadsWhileBuilding,
  unbuildable,
  uncloneable,
} from "../fixtures/engine/worker-flows.ts";

// One thread is enough for most tests (each thread loads tsx and the flow module: about a second).
const workers: ExecutorSpec = { type: "worker-threads", maxWorkers: 1 };

/** OS threads of this process (each worker thread is one); undefined off Linux. */
function osThreads(): number | undefined {
  try {
    return readdirSync("/proc/self/task").length;
  } catch {
    return undefined;
  }
}

// A hang must fail the test, not stall the suite.
describe("worker-threads executor", { timeout: 60_000 }, () => {
  test("results and states equal those of the serial and concurrent executors", async () => {
    const parameters = { n: 6, offset: 3 };
    const runs = await Promise.all(
      (["serial", "concurrent", workers] as const).map((executor) =>
        parity.run({ parameters, executor }),
      ),
    );
    const [serial, concurrent, threaded] = runs;
    const view = (run: (typeof runs)[number]) => ({
      state: run.state.type,
      outputs: run.outputs,
      states: [...run.taskStates].map(([slug, s]) => [
        slug,
        s.type,
        s.message,
        s.children?.map((c) => c.type),
      ]),
    });
    assert.deepEqual(view(threaded!), view(serial!));
    assert.deepEqual(view(concurrent!), view(serial!));
    // And the results are the right ones, not just equal.
    const total = [0, 1, 4, 9, 16, 25].reduce((a, b) => a + b + 3, 0);
    assert.equal(threaded!.result(parity.outputs.total), total);
    assert.equal(threaded!.result(parity.outputs.chosen), `odd ${total}`);
    assert.equal(threaded!.stateOf(parity.outputs.afterKept).type, "Skipped");
    assert.deepEqual(
      threaded!.stateOf(parity.outputs.checked).children?.map((c) => c.type),
      ["Success", "Success", "Success", "Failed", "Success", "Success"],
    );
    assert.equal(threaded!.stateOf(parity.outputs.checked).children?.[3]?.error?.type, "Fail");
    assert.equal(threaded!.result(parity.outputs.summary), JSON.stringify([total, `odd ${total}`]));
    const stamped = threaded!.result(parity.outputs.stamped);
    assert.ok(stamped.when instanceof Date && stamped.tags instanceof Set);
    // checked-1 has a failed child but is not a reference task: tolerant-1 (all_finished) follows it.
    assert.match(threaded!.result(parity.outputs.cleanup), /^tolerated/);
    assert.equal(threaded!.state.type, "Success");
  });

  test("a busy-looping task hits the hard timeout; its thread is terminated and the rest succeed", async () => {
    const threadsBefore = osThreads();
    const run = await hardTimeout.run({ executor: { type: "worker-threads", maxWorkers: 2 } });
    const spun = run.stateOf(hardTimeout.outputs.spun);
    assert.equal(spun.type, "TimedOut");
    assert.match(spun.message ?? "", /^hard timeout after 300 ms/);
    assert.match(spun.message ?? "", /terminated/);
    assert.equal(spun.attempts, 1);
    assert.ok(spun.isFailed());
    assert.ok((spun.durationMs ?? 0) >= 290, `ran ${spun.durationMs} ms before the timeout`);
    const others = run.result(hardTimeout.outputs.others);
    assert.deepEqual(
      others.map((o) => o.x),
      [1, 2, 3, 4],
    );
    assert.ok(
      others.every((o) => o.threadId !== threadId),
      "task bodies ran off the main thread",
    );
    assert.equal(run.result(hardTimeout.outputs.after), "ran anyway");
    assert.equal(run.state.type, "Success", "the reference tasks are others and after");
    assert.ok((osThreads() ?? 0) <= (threadsBefore ?? 0), "no worker thread is left behind");
  });

  // Found while writing this suite: the clock used to start when the call was posted, so a
  // fresh thread's start-up (tsx and the flow module, about a second) counted against it.
  test("a hard timeout measures the task body, not the thread's start-up; a retry gets a fresh clock", async () => {
    const run = await shortTimeouts.run({ executor: workers });
    const quick = run.stateOf(shortTimeouts.outputs.quick);
    assert.equal(
      quick.type,
      "Success",
      `a task that returns at once ended ${quick.type}: ${quick.message}`,
    );
    assert.equal(run.result(shortTimeouts.outputs.quick), 2);
    const retried = run.stateOf(shortTimeouts.outputs.retried);
    assert.equal(
      retried.type,
      "Success",
      `the retry after a hard timeout ended ${retried.type}: ${retried.message}`,
    );
    assert.equal(retried.attempts, 2);
    assert.equal(run.result(shortTimeouts.outputs.retried), 2);
  });

  test("an uncloneable result fails that task with VALUE_NOT_CLONEABLE; the others succeed", async () => {
    const run = await uncloneable.run({ executor: workers });
    const fn = run.stateOf(uncloneable.outputs.fn);
    assert.equal(fn.type, "Failed");
    assert.equal(fn.error?.code, "VALUE_NOT_CLONEABLE");
    assert.match(
      fn.message ?? "",
      /the result of task make-function-1 cannot cross from its worker thread/,
    );
    assert.match(fn.message ?? "", /could not be cloned/);
    assert.equal(run.stateOf(uncloneable.outputs.used).type, "TriggerFailed");
    assert.deepEqual(run.result(uncloneable.outputs.plain), [2, 3]);
    // In-process, the same function result is fine.
    const local = await uncloneable.run({ executor: "concurrent" });
    assert.equal(local.result(uncloneable.outputs.used), 42);
  });

  test("an uncloneable input fails the task with VALUE_NOT_CLONEABLE and the run still ends", async () => {
    const run = await uncloneable.run({
      executor: workers,
      parameters: { config: { onError: () => undefined } },
    });
    const read = run.stateOf(uncloneable.outputs.config);
    assert.equal(read.type, "Failed");
    assert.equal(read.error?.code, "VALUE_NOT_CLONEABLE");
    assert.match(
      read.message ?? "",
      /the inputs of task read-config-1 cannot be sent to a worker thread/,
    );
  });

  test("context() inside a thread: run, flow, task, child, attempt and parameters; logs reach the reporter", async () => {
    const reporter = new RecordingReporter();
    const flowRunId = randomUUID();
    const run = await contextFlow.run({
      executor: workers,
      reporter,
      flowRunId,
      parameters: { tag: "blue" },
    });
    assert.equal(run.state.type, "Success");
    const many = run.result(contextFlow.outputs.many);
    const common = {
      flowRunId,
      flowName: "worker-fixture-context",
      taskSlug: "introspect-1",
      taskName: "introspect",
      parameters: { tag: "blue" },
      aborted: false,
    };
    assert.deepEqual(
      many.map(({ threadId: _t, ...rest }) => rest),
      [
        { ...common, x: 10, mapIndex: 0, attempt: 1 },
        { ...common, x: 20, mapIndex: 1, attempt: 2 },
      ],
    );
    assert.ok(many.every((m) => m.threadId !== threadId));
    assert.deepEqual(
      run.stateOf(contextFlow.outputs.many).children?.map((c) => c.attempts),
      [1, 2],
    );
    const logs = reporter
      .logs()
      .map((r) => `${r.taskSlug}#${r.mapIndex}:${r.level}:${r.message}:${JSON.stringify(r.fields)}`)
      .sort();
    assert.deepEqual(logs, [
      'introspect-1#0:info:child 0 attempt 1:{"x":10}',
      'introspect-1#1:info:child 1 attempt 1:{"x":20}',
      'introspect-1#1:info:child 1 attempt 2:{"x":20}',
    ]);
    for (const r of reporter.logs()) assert.equal(r.flowRunId, flowRunId);
    assert.deepEqual(reporter.taskTypes("introspect-1", 1), ["Running", "Retrying", "Success"]);
  });

  test("Fail, Skip, non-Error throws, error types and a dying thread cross the boundary", async () => {
    const threadsBefore = osThreads();
    const run = await signals.run({ executor: workers });
    const failHard = run.stateOf(signals.outputs.failHard);
    assert.equal(failHard.type, "Failed");
    assert.equal(failHard.attempts, 1, "Fail is not retried");
    assert.equal(failHard.message, "failed on attempt 1");
    assert.equal(run.stateOf(signals.outputs.skipMe).type, "Skipped");
    assert.equal(run.stateOf(signals.outputs.skipMe).message, "nothing to do");
    const str = run.stateOf(signals.outputs.throwString);
    assert.equal(str.type, "Failed");
    assert.equal(str.attempts, 2, "a non-Error throw is retried");
    assert.equal(str.error?.type, "NonError");
    assert.match(str.error?.message ?? "", /a plain string/);
    const typeError = run.stateOf(signals.outputs.throwType);
    assert.equal(typeError.error?.type, "TypeError");
    assert.equal(typeError.error?.message, "wrong type");
    const exited = run.stateOf(signals.outputs.exitThread);
    assert.equal(exited.type, "Failed");
    assert.equal(exited.error?.code, "WORKER_FAILED");
    assert.match(exited.message ?? "", /exit-thread-1/);
    assert.match(exited.message ?? "", /exited with code 3/);
    assert.equal(run.result(signals.outputs.fine), 2);
    assert.ok((osThreads() ?? 0) <= (threadsBefore ?? 0), "no worker thread is left behind");
  });

  test("cancelling a run ends it even while a thread spins, and terminates the thread", async () => {
    const threadsBefore = osThreads();
    const controller = new AbortController();
    let abortedAt = 0;
    const run = await endless.run({
      executor: workers,
      signal: controller.signal,
      reporter: {
        // The task logs just before it starts spinning.
        log() {
          abortedAt = Date.now();
          controller.abort();
        },
      },
    });
    assert.ok(abortedAt > 0, "the task started");
    assert.ok(Date.now() - abortedAt < 5_000, "the run ended soon after the abort");
    assert.equal(run.state.type, "Cancelled");
    assert.equal(run.stateOf("spin-forever-1").type, "Cancelled");
    assert.equal(run.stateOf("plain-1").type, "Cancelled");
    assert.ok((osThreads() ?? 0) <= (threadsBefore ?? 0), "the spinning thread is gone");
  });

  test("a flow defined outside a module file is refused with INVALID_EXECUTOR", async () => {
    const local = flow(`worker-local-${randomUUID()}`, () => task("t", () => 1)());
    // This test file is a module file, so pretend the flow came from eval'd code.
    Object.defineProperty(local, "moduleUrl", { value: "data:text/javascript,0" });
    await assert.rejects(
      local.run({ executor: workers }),
      (e: unknown) =>
        isWeftError(e) && e.code === "INVALID_EXECUTOR" && /not a file/.test(e.message),
    );
  });
});

// Runs whose graph is not built yet: the executor starts first (flow-runner.ts).
describe("worker-threads executor: a run that builds the graph", { timeout: 60_000 }, () => {
  test("a run that builds the graph starts a thread first, which boots meanwhile", async (t) => {
    if (osThreads() === undefined) return t.skip("counts threads in /proc/self/task (Linux)");
    // The same flow on an in-process executor: the threads the process has anyway.
    assert.equal(
      (await buildsInProcess.run({ executor: "concurrent" })).result(buildsInProcess.outputs),
      21,
    );
    const run = await buildsOnThreads.run({ executor: { type: "worker-threads", maxWorkers: 2 } });
    assert.equal(run.result(buildsOnThreads.outputs), 21);
    const inProcess = threadsWhileBuilding.get(buildsInProcess.name)!;
    const onThreads = threadsWhileBuilding.get(buildsOnThreads.name)!;
    assert.ok(
      onThreads > inProcess,
      `${onThreads} OS threads while building, ${inProcess} without a pool`,
    );
  });

  test("a flow whose graph cannot be built rejects with that error; its thread is terminated", async () => {
    const threadsBefore = osThreads();
    // The thread imports the fixture module while the graph fails to build.
    await assert.rejects(
      unbuildable.run({ executor: workers }),
      (e: unknown) =>
        isWeftError(e) && e.code === "FLOW_BUILD_FAILED" && /no graph today/.test(e.message),
    );
    assert.ok((osThreads() ?? 0) <= (threadsBefore ?? 0), "no worker thread is left behind");
  });
});
