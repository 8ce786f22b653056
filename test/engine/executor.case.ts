// The executor conformance suite: one set of cases that every executor must
// pass (serial, concurrent, worker-threads, distributed), run by each kind's
// own test file as the storage suite is (test/storage/storage.case.ts):
//
//   runExecutorConformance("worker-threads", async () => ({
//     run: (flow, options) => flow.run({ ...options, executor: "worker-threads" }),
//   }));
//
// The cases pin what the task host and the task runner promise wherever a body
// runs: states, errors as data, Skip and Fail, retries, timeouts, mapping,
// cancellation, values that cannot cross, and large inputs with a result
// backend. A kind that cannot pass a case lists it in `skip` with its reason.
// The list checks itself: an unknown case name fails, and a skipped case still
// runs and must fail, so a skip that is no longer needed fails the suite until
// it is removed.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { threadId } from "node:worker_threads";
import { createLocalResultBackend } from "../../src/engine/results/local-result-backend.ts";
import type { Flow, FlowRun, RunOptions } from "../../src/index.ts";
import {
  cancelFlow,
  failFlow,
  handlerCalls,
  largeInputFlow,
  loopFlow,
  mappedFlow,
  retryFlow,
  signalFlow,
  skipFlow,
  throwsFlow,
  timeoutFlow,
  unclonableFlow,
  valuesFlow,
} from "../fixtures/engine/executor-conformance-flows.ts";

/** Every case of the suite, by the name that `skip` uses. */
export const EXECUTOR_CASES = [
  "tasks run to Success and their values come back",
  "a thrown error fails the task with its type, message, code and hint as data",
  "Skip ends the task Skipped with its message",
  "a failing task is retried, each attempt numbered, until it succeeds",
  "Fail ends the task Failed at once, without retrying",
  "a task past its timeout ends TimedOut",
  "mapped children run with their index and their results keep their order",
  "cancelling the run ends it Cancelled before its tasks finish",
  "a result that cannot leave its thread or process fails with VALUE_NOT_CLONEABLE",
  "a large input reaches its task when the run has a result backend",
  "Loop reruns a mapped task with its loop context, a retry resumes at its iteration, handlers run here",
  "Pause waits for approval, Succeed ends with its result, Retry forces a retry",
] as const;

/** A case's name. */
export type ExecutorCase = (typeof EXECUTOR_CASES)[number];

/** The run options a case passes (the harness adds the executor). */
export type CaseRunOptions = Pick<
  RunOptions,
  "parameters" | "signal" | "reporter" | "result" | "approve"
>;

/** An executor under test: runs a flow of the fixture module on it. */
export interface ExecutorHarness {
  run<Out>(flow: Flow<Out>, options?: CaseRunOptions): Promise<FlowRun<Out>>;
  /** Releases what the harness started (workers). */
  close?(): Promise<void>;
}

/** Options of {@link runExecutorConformance}. */
export interface ExecutorConformanceOptions {
  /** Case name → why this kind cannot pass it. The case still runs and must fail. */
  skip?: Readonly<Partial<Record<ExecutorCase, string>>>;
  /** Options of the describe block (e.g. skip without Redis). */
  describe?: { skip?: string | false };
}

/**
 * Registers the conformance suite for one executor kind. `setup` runs once
 * before the cases (start workers here), its `close` once after.
 */
export function runExecutorConformance(
  kind: string,
  setup: () => Promise<ExecutorHarness>,
  options: ExecutorConformanceOptions = {},
): void {
  const skip: Readonly<Record<string, string | undefined>> = options.skip ?? {};
  describe(`executor conformance: ${kind}`, { skip: options.describe?.skip ?? false }, () => {
    let harness: ExecutorHarness | undefined;
    let tmp = "";
    before(async () => {
      tmp = await mkdtemp(join(tmpdir(), `weft-executor-conformance-${kind}-`));
      harness = await setup();
    });
    after(async () => {
      await harness?.close?.();
      await rm(tmp, { recursive: true, force: true });
    });
    const run = <Out>(flow: Flow<Out>, runOptions?: CaseRunOptions) =>
      harness!.run(flow, runOptions);

    test("options.skip names only cases of the suite, each with a reason", () => {
      const unknown = Object.keys(skip).filter(
        (name) => !(EXECUTOR_CASES as readonly string[]).includes(name),
      );
      assert.deepEqual(unknown, [], `known cases: ${EXECUTOR_CASES.join(" | ")}`);
      for (const [name, reason] of Object.entries(skip)) {
        assert.ok((reason ?? "").trim().length > 0, `the skip of "${name}" needs a reason`);
      }
    });

    /** Registers one case; a skipped one must fail, so a stale skip is noticed. */
    const conformance = (name: ExecutorCase, fn: () => Promise<void>) => {
      const reason = skip[name];
      if (reason === undefined) {
        test(name, fn);
        return;
      }
      test(`${name} (skipped: ${reason}; checked to still fail)`, async () => {
        let passed = false;
        try {
          await fn();
          passed = true;
        } catch {
          // Expected: the kind cannot pass this case.
        }
        assert.ok(!passed, `"${name}" passes on ${kind} now: remove it from the skip list`);
      });
    };

    conformance("tasks run to Success and their values come back", async () => {
      const r = await run(valuesFlow);
      assert.equal(r.state.type, "Success", r.state.message);
      assert.deepEqual(r.outputs, { sum: 5, text: "HI!" });
      assert.equal(r.stateOf("add-1").type, "Success");
      assert.equal(r.stateOf("add-1").attempts, 1);
    });

    conformance(
      "a thrown error fails the task with its type, message, code and hint as data",
      async () => {
        const r = await run(throwsFlow);
        assert.equal(r.state.type, "Failed");
        const state = r.stateOf("bad-input-1");
        assert.equal(state.type, "Failed");
        assert.equal(state.message, "bad input: expected a number");
        assert.equal(state.error?.type, "TypeError");
        assert.equal(state.error?.message, "bad input: expected a number");
        assert.equal(state.error?.code, "E_BAD_INPUT");
        assert.equal(state.error?.hint, "pass a number");
        assert.match(state.error?.stack ?? "", /TypeError: bad input/);
        assert.equal("retryable" in (state.error ?? {}), false, "a state's error has no retryable");
      },
    );

    conformance("Skip ends the task Skipped with its message", async () => {
      const r = await run(skipFlow);
      const state = r.stateOf("skipper-1");
      assert.equal(state.type, "Skipped");
      assert.equal(state.message, "nothing to do today");
      assert.equal(state.error, undefined);
    });

    conformance("a failing task is retried, each attempt numbered, until it succeeds", async () => {
      const seen: string[] = [];
      const r = await run(retryFlow, {
        reporter: { taskState: (_run, node, _i, state) => seen.push(`${node.slug}:${state.type}`) },
      });
      assert.equal(r.state.type, "Success", r.state.message);
      assert.equal(r.outputs.out, 3, "the body saw attempt 3");
      assert.equal(r.stateOf("flaky-1").attempts, 3);
      assert.deepEqual(
        seen.filter((s) => s.startsWith("flaky-1:")),
        ["flaky-1:Running", "flaky-1:Retrying", "flaky-1:Retrying", "flaky-1:Success"],
      );
    });

    conformance("Fail ends the task Failed at once, without retrying", async () => {
      const r = await run(failFlow);
      const state = r.stateOf("refuses-1");
      assert.equal(state.type, "Failed");
      assert.equal(state.attempts, 1, "not retried");
      assert.equal(state.error?.type, "Fail");
      assert.equal(state.message, "no point in retrying");
      assert.equal("retryable" in (state.error ?? {}), false, "a state's error has no retryable");
    });

    conformance("a task past its timeout ends TimedOut", async () => {
      const started = Date.now();
      const r = await run(timeoutFlow);
      const state = r.stateOf("sleepy-1");
      assert.equal(state.type, "TimedOut", state.message);
      assert.match(state.message ?? "", /timeout after 300 ms/);
      assert.equal(state.error?.type, "TaskTimeout");
      assert.ok(Date.now() - started < 15_000, "the run did not wait for the body");
    });

    conformance(
      "mapped children run with their index and their results keep their order",
      async () => {
        const r = await run(mappedFlow, { parameters: { n: 25 } });
        assert.equal(r.state.type, "Success", r.state.message);
        assert.deepEqual(
          r.outputs.out,
          Array.from({ length: 25 }, (_, i) => ({ x: i * 10, index: i })),
        );
      },
    );

    conformance("cancelling the run ends it Cancelled before its tasks finish", async () => {
      const controller = new AbortController();
      const started = Date.now();
      const r = await run(cancelFlow, {
        signal: controller.signal,
        reporter: {
          taskState: (_run, node, _i, state) => {
            if (node.slug === "waits-1" && state.type === "Running") controller.abort();
          },
        },
      });
      assert.equal(r.state.type, "Cancelled", r.state.message);
      assert.notEqual(r.stateOf("after-1").type, "Success");
      assert.ok(Date.now() - started < 15_000, "the run did not wait for the 20 s body");
    });

    conformance(
      "a result that cannot leave its thread or process fails with VALUE_NOT_CLONEABLE",
      async () => {
        const r = await run(unclonableFlow);
        const state = r.stateOf("make-function-1");
        assert.equal(state.type, "Failed", state.message);
        assert.equal(state.error?.code, "VALUE_NOT_CLONEABLE");
        assert.match(state.message ?? "", /result of task make-function-1 cannot/);
        assert.ok(state.error?.hint, "with a hint");
      },
    );

    conformance("a large input reaches its task when the run has a result backend", async () => {
      const result = createLocalResultBackend({ directory: join(tmp, "results") });
      const r = await run(largeInputFlow, { parameters: { bytes: 50_000 }, result });
      assert.equal(r.state.type, "Success", r.state.message);
      assert.equal(r.outputs.length, 50_000);
    });

    conformance(
      "Loop reruns a mapped task with its loop context, a retry resumes at its iteration, handlers run here",
      async () => {
        handlerCalls.length = 0;
        const seen: string[] = [];
        const r = await run(loopFlow, {
          reporter: {
            taskState: (_run, node, i, state) => {
              if (i !== undefined) seen.push(`${node.slug}[${i}]:${state.type}`);
            },
          },
        });
        assert.equal(r.state.type, "Success", r.state.message);
        assert.deepEqual(r.outputs.out, [
          [10, 1, 2, 3],
          [20, 1, 2, 3],
        ]);
        const of = (c: number) =>
          seen.filter((s) => s.startsWith(`looping-1[${c}]:`)).map((s) => s.split(":")[1]);
        assert.deepEqual(of(0), ["Running", "Looped", "Looped", "Success"]);
        assert.deepEqual(of(1), ["Running", "Looped", "Retrying", "Looped", "Success"]);
        // Every state of every child, and the parent's Mapped, went through the handler in this thread.
        assert.ok(handlerCalls.every((call) => call.threadId === threadId));
        assert.deepEqual(
          handlerCalls.filter((call) => call.mapIndex === 1).map((call) => call.type),
          ["Running", "Looped", "Retrying", "Looped", "Success"],
        );
        assert.deepEqual(
          handlerCalls.filter((call) => call.mapIndex === undefined).map((call) => call.type),
          ["Mapped"],
        );
      },
    );

    conformance(
      "Pause waits for approval, Succeed ends with its result, Retry forces a retry",
      async () => {
        const first = await run(signalFlow);
        assert.equal(first.state.type, "Paused", first.state.message);
        assert.equal(first.stateOf("gate-1").type, "Paused");
        assert.match(first.stateOf("gate-1").message ?? "", /needs a person/);
        const early = first.stateOf("early-1");
        assert.equal(early.type, "Success");
        assert.equal(early.message, "done early");
        assert.equal(first.outputs.early, 7);
        assert.equal(first.outputs.polled, 2, "retried once without retries");
        const second = await run(signalFlow, { approve: ["gate-1"] });
        assert.equal(second.state.type, "Success", second.state.message);
        assert.equal(second.outputs.gated, "approved");
      },
    );
  });
}
