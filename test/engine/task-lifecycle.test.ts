// Loops, the signals Pause / Retry / Succeed, and state handlers of tasks and
// flows, run in process (serial and concurrent executors).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import {
  context,
  Fail,
  flow,
  Loop,
  Pause,
  Retry,
  State,
  type StateHandler,
  type StateSubject,
  Succeed,
  task,
} from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

describe("Loop", () => {
  test("runs the task again with context().loop, each iteration a Looped state", async () => {
    const seen: { count: number; result: unknown }[] = [];
    const count = task("count", (limit: number) => {
      const { count, result } = context().loop;
      seen.push({ count, result });
      const total = ((result as number | undefined) ?? 0) + count;
      if (count < limit) throw new Loop({ result: total, message: `at ${count}` });
      return total;
    });
    const f = flow(unique("loop"), () => count(4));
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter, executor: "serial" });
    assert.equal(run.state.type, "Success");
    assert.equal(run.result(f.outputs), 1 + 2 + 3 + 4);
    assert.deepEqual(seen, [
      { count: 1, result: undefined },
      { count: 2, result: 1 },
      { count: 3, result: 3 },
      { count: 4, result: 6 },
    ]);
    assert.deepEqual(reporter.taskTypes("count-1"), [
      "Running",
      "Looped",
      "Looped",
      "Looped",
      "Success",
    ]);
    const looped = reporter.taskStates("count-1").filter((s) => s.type === "Looped");
    assert.deepEqual(
      looped.map((s) => [s.message, s.result]),
      [
        ["iteration 1: at 1", 1],
        ["iteration 2: at 2", 3],
        ["iteration 3: at 3", 6],
      ],
    );
    assert.ok(looped[0]!.isRunning(), "Looped is a kind of Running");
  });

  test("a retry after a failure in iteration k resumes at iteration k with the last result", async () => {
    const seen: string[] = [];
    let failedOnce = false;
    const pages = task(
      "pages",
      async () => {
        const { count, result } = context().loop;
        seen.push(`${context().attempt}:${count}:${String(result)}`);
        if (count === 3 && !failedOnce) {
          failedOnce = true;
          throw new Error("flaky page 3");
        }
        const acc = [...((result as number[] | undefined) ?? []), count];
        if (count < 4) throw new Loop({ result: acc });
        return acc;
      },
      { retries: 1 },
    );
    const f = flow(unique("loop-retry"), () => pages());
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter });
    assert.equal(run.state.type, "Success");
    assert.deepEqual(run.result(f.outputs), [1, 2, 3, 4]);
    assert.deepEqual(seen, ["1:1:undefined", "1:2:1", "1:3:1,2", "2:3:1,2", "2:4:1,2,3"]);
    assert.deepEqual(reporter.taskTypes("pages-1"), [
      "Running",
      "Looped",
      "Looped",
      "Retrying",
      "Looped",
      "Success",
    ]);
  });

  test("maxLoops bounds the iterations: the task ends Failed naming the limit", async () => {
    let runs = 0;
    const forever = task(
      "forever",
      () => {
        runs++;
        throw new Loop({ result: runs });
      },
      { maxLoops: 5 },
    );
    const f = flow(unique("loop-limit"), () => forever());
    const run = await f.run({ executor: "serial" });
    const state = run.stateOf(f.outputs);
    assert.equal(state.type, "Failed");
    assert.equal(runs, 6);
    assert.match(state.message ?? "", /threw Loop after 5 re-runs: its maxLoops limit is 5/);
    assert.equal(state.error?.type, "LoopLimit");
  });

  test("the default limit is 1000 iterations", async () => {
    const forever = task("forever", () => {
      throw new Loop();
    });
    const f = flow(unique("loop-default"), () => forever());
    const run = await f.run({ executor: "serial" });
    assert.match(run.stateOf(f.outputs).message ?? "", /maxLoops limit is 1000/);
  });

  test("a mapped task with retries loops child by child", async () => {
    const attempts = new Map<number, number>();
    const walk = task(
      "walk",
      (start: number) => {
        const { count, result } = context().loop;
        const i = context().mapIndex!;
        // Child 1 fails once in its second iteration; its retry resumes there.
        if (i === 1 && count === 2 && !attempts.has(i)) {
          attempts.set(i, 1);
          throw new Error("once");
        }
        const acc = ((result as number | undefined) ?? start) + 1;
        if (count < 3) throw new Loop({ result: acc });
        return acc;
      },
      { retries: 1 },
    );
    const f = flow(unique("loop-map"), () => walk.map([10, 20, 30]));
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter });
    assert.equal(run.state.type, "Success");
    assert.deepEqual(run.result(f.outputs), [13, 23, 33]);
    assert.deepEqual(reporter.taskTypes("walk-1", 0), ["Running", "Looped", "Looped", "Success"]);
    assert.deepEqual(reporter.taskTypes("walk-1", 1), [
      "Running",
      "Looped",
      "Retrying",
      "Looped",
      "Success",
    ]);
    assert.equal(run.stateOf(f.outputs).children?.[1]?.attempts, 2);
  });
});

describe("signals", () => {
  test("Succeed ends Success with its result and message", async () => {
    const quick = task("quick", (): number => {
      throw new Succeed({ result: 42, message: "nothing to do" });
    });
    const after = task("after", (x: number) => x + 1);
    const f = flow(unique("succeed"), () => after(quick()));
    const run = await f.run();
    const state = run.stateOf("quick-1");
    assert.equal(state.type, "Success");
    assert.equal(state.message, "nothing to do");
    assert.equal(run.result(f.outputs), 43);
  });

  test("Retry forces a retry without retries, after its delay, counted as an attempt", async () => {
    const times: number[] = [];
    const polled = task("poll", () => {
      times.push(Date.now());
      if (context().attempt < 3) throw new Retry({ delay: 30, message: "not ready" });
      return context().attempt;
    });
    const f = flow(unique("retry"), () => polled());
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter });
    assert.equal(run.result(f.outputs), 3);
    assert.deepEqual(reporter.taskTypes("poll-1"), ["Running", "Retrying", "Retrying", "Success"]);
    assert.match(reporter.taskStates("poll-1")[1]!.message ?? "", /asked for a retry: not ready/);
    assert.ok(times[1]! - times[0]! >= 25, "waited for the signal's delay");
  });

  test("forced retries leave the task's own retries for real failures", async () => {
    const seen: number[] = [];
    const t = task(
      "t",
      () => {
        const attempt = context().attempt;
        seen.push(attempt);
        if (attempt === 1) throw new Retry();
        if (attempt === 2) throw new Error("real failure");
        return "ok";
      },
      { retries: 1 },
    );
    const f = flow(unique("retry-budget"), () => t());
    const run = await f.run();
    assert.equal(run.result(f.outputs), "ok");
    assert.deepEqual(seen, [1, 2, 3]);
  });

  test("Retry is bounded by maxLoops", async () => {
    const t = task(
      "t",
      () => {
        throw new Retry();
      },
      { maxLoops: 2 },
    );
    const f = flow(unique("retry-limit"), () => t());
    const run = await f.run();
    assert.match(run.stateOf(f.outputs).message ?? "", /threw Retry after 2 re-runs/);
  });

  test("Pause waits for approval like manual_only; approved, the task runs again", async () => {
    const review = task("review", (x: number) => {
      if (!context().approved) throw new Pause("a person checks the numbers");
      return x * 2;
    });
    const publish = task("publish", (x: number) => `published ${x}`);
    const f = flow(unique("pause"), () => publish(review(21)));
    const first = await f.run();
    assert.equal(first.state.type, "Paused");
    const paused = first.stateOf("review-1");
    assert.equal(paused.type, "Paused");
    assert.match(paused.message ?? "", /a person checks the numbers.*--approve review-1/);
    assert.equal(first.stateOf("publish-1").type, "Pending", "downstream waits");
    const second = await f.run({ approve: ["review-1"] });
    assert.equal(second.state.type, "Success");
    assert.equal(second.result(f.outputs), "published 42");
  });

  test("a paused mapped child holds the mapped task and its downstreams Paused", async () => {
    const check = task("check", (x: number) => {
      if (x === 2 && !context().approved) throw new Pause();
      return x;
    });
    const sum = task("sum", (xs: number[]) => xs.reduce((a, b) => a + b, 0));
    const f = flow(unique("pause-map"), () => sum(check.map([1, 2, 3])));
    const run = await f.run();
    assert.equal(run.state.type, "Paused");
    const mapped = run.stateOf("check-1");
    assert.equal(mapped.type, "Paused");
    assert.deepEqual(
      mapped.children?.map((c) => c.type),
      ["Success", "Paused", "Success"],
    );
    assert.equal(run.stateOf("sum-1").type, "Pending");
  });

  test("Fail is still never retried", async () => {
    let n = 0;
    const t = task(
      "t",
      () => {
        n++;
        throw new Fail("no");
      },
      { retries: 3 },
    );
    const f = flow(unique("fail"), () => t());
    await f.run();
    assert.equal(n, 1);
  });
});

describe("state handlers", () => {
  test("a task's handlers see every transition in order and may replace the state", async () => {
    const calls: string[] = [];
    const record: StateHandler = (subject, old, next) => {
      calls.push(`${subject.taskSlug}:${old.type}->${next.type}`);
    };
    const toSkipped: StateHandler = function softenFailure(_s, _old, next) {
      if (next.isFailed()) return new State("Skipped", `was: ${next.message}`);
    };
    const afterReplace: string[] = [];
    const seeReplacement: StateHandler = (_s, _old, next) => {
      afterReplace.push(next.type);
    };
    let tries = 0;
    const flaky = task(
      "flaky",
      () => {
        tries++;
        throw new Error(`boom ${tries}`);
      },
      { retries: 1, onStateChange: [record, toSkipped, seeReplacement] },
    );
    const f = flow(unique("handlers"), () => flaky());
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter, executor: "serial" });
    assert.deepEqual(calls, [
      "flaky-1:Pending->Running",
      "flaky-1:Running->Retrying",
      "flaky-1:Retrying->Failed",
    ]);
    assert.deepEqual(afterReplace, ["Running", "Retrying", "Skipped"]);
    const final = run.stateOf(f.outputs);
    assert.equal(final.type, "Skipped");
    assert.equal(final.message, "was: boom 2");
    // The reporter hears the replacement too.
    assert.deepEqual(reporter.taskTypes("flaky-1"), ["Running", "Retrying", "Skipped"]);
  });

  test("async handlers are awaited in order; sync tasks without handlers stay synchronous", async () => {
    const order: string[] = [];
    const slow: StateHandler = async (_s, _o, next) => {
      await new Promise((r) => setTimeout(r, 5));
      order.push(`slow ${next.type}`);
      return new State(next.type, `slow saw ${next.type}`, next.result);
    };
    const fast: StateHandler = (_s, _o, next) => {
      order.push(`fast ${next.message}`);
    };
    const t = task("t", () => 1, { onStateChange: [slow, fast] });
    const plain = task("plain", (x: number) => x + 1);
    const f = flow(unique("async-handlers"), () => plain(t()));
    const run = await f.run({ executor: "serial" });
    assert.deepEqual(order, [
      "slow Running",
      "fast slow saw Running",
      "slow Success",
      "fast slow saw Success",
    ]);
    assert.equal(run.result(f.outputs), 2);
  });

  test("a handler that throws fails the task, naming the handler", async () => {
    const t = task("t", () => 1, {
      onStateChange: [
        () => undefined,
        function explode(_s, _o, next) {
          if (next.type === "Success") throw new Error("cannot notify");
        },
      ],
    });
    const anonymous = task("anon", () => 1, {
      onStateChange: [
        () => {
          throw new Error("nope");
        },
      ],
    });
    const f = flow(unique("handler-throws"), () => [t(), anonymous()]);
    const run = await f.run();
    const state = run.stateOf("t-1");
    assert.equal(state.type, "Failed");
    assert.equal(
      state.message,
      'state handler "explode" of task t-1 threw on Running → Success: cannot notify',
    );
    assert.equal(state.error?.type, "StateHandlerError");
    const anon = run.stateOf("anon-1");
    assert.equal(anon.type, "Failed");
    assert.match(
      anon.message ?? "",
      /^state handler #0 of task anon-1 threw on Pending → Running: nope/,
    );
    assert.equal(run.state.type, "Failed");
  });

  test("a handler replacing Running with another state ends the run there, without running it", async () => {
    let ran = false;
    const t = task(
      "t",
      () => {
        ran = true;
      },
      {
        onStateChange: [
          (_s, _o, next) =>
            next.type === "Running" ? new State("Skipped", "not today") : undefined,
        ],
      },
    );
    const f = flow(unique("handler-skip"), () => t());
    const run = await f.run();
    assert.equal(ran, false);
    assert.equal(run.stateOf(f.outputs).type, "Skipped");
  });

  test("handlers see states the walk decides (TriggerFailed) and each mapped child", async () => {
    const seen: string[] = [];
    const handler: StateHandler = (s: StateSubject, old, next) => {
      seen.push(`${s.taskSlug}[${s.mapIndex ?? "-"}] ${old.type}->${next.type}`);
    };
    const broken = task("broken", (): number[] => {
      throw new Error("down");
    });
    const after = task("after", (xs: number[]) => xs, { onStateChange: [handler] });
    const double = task("double", (x: number) => x * 2, { onStateChange: [handler] });
    const f = flow(unique("handler-walk"), () => [after(broken()), double.map([1, 2])]);
    const run = await f.run({ executor: "serial" });
    assert.equal(run.stateOf("after-1").type, "TriggerFailed");
    assert.deepEqual(seen.sort(), [
      "after-1[-] Pending->TriggerFailed",
      "double-1[-] Pending->Mapped",
      "double-1[0] Pending->Running",
      "double-1[0] Running->Success",
      "double-1[1] Pending->Running",
      "double-1[1] Running->Success",
    ]);
  });

  test("a handler on a mapped child may replace that child's state alone", async () => {
    const subjects: StateSubject[] = [];
    const failOdd: StateHandler = (s, _o, next) => {
      subjects.push(s);
      if (next.type === "Success" && s.mapIndex === 1)
        return new State("Failed", "odd child refused");
    };
    const inc = task("inc", (x: number) => x + 1, { onStateChange: [failOdd] });
    const f = flow(unique("handler-map"), () => inc.map([1, 2, 3]));
    const run = await f.run();
    const mapped = run.stateOf(f.outputs);
    assert.deepEqual(
      mapped.children?.map((c) => c.type),
      ["Success", "Failed", "Success"],
    );
    assert.equal(mapped.children?.[1]?.message, "odd child refused");
    const child = subjects.find((s) => s.mapIndex === 2)!;
    assert.equal(child.kind, "task");
    assert.equal(child.taskName, "inc");
    assert.equal(child.flowRunId, run.id);
    assert.equal(child.flowName, f.name);
  });

  test("a flow's handlers see Running and the final state, and may replace it", async () => {
    const calls: string[] = [];
    const t = task("t", () => {
      throw new Error("x");
    });
    const f = flow(unique("flow-handlers"), () => t(), {
      onStateChange: [
        (s, old, next) => {
          calls.push(`${s.kind} ${s.flowName === f.name} ${old.type}->${next.type}`);
          if (next.isFailed()) return new State("Success", "failure forgiven");
        },
      ],
    });
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter });
    assert.deepEqual(calls, ["flow true Pending->Running", "flow true Running->Failed"]);
    assert.equal(run.state.type, "Success");
    assert.equal(run.state.message, "failure forgiven");
    assert.deepEqual(reporter.flowTypes(), ["Running", "Success"]);
  });

  test("a flow handler answering another state for Running ends the run before any task", async () => {
    let ran = false;
    const t = task("t", () => {
      ran = true;
    });
    const f = flow(unique("flow-handler-skip"), () => t(), {
      onStateChange: [
        (_s, _o, next) =>
          next.type === "Running" ? new State("Cancelled", "maintenance window") : undefined,
      ],
    });
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter });
    assert.equal(ran, false);
    assert.equal(run.state.type, "Cancelled");
    assert.equal(run.state.message, "maintenance window");
    assert.deepEqual(reporter.flowTypes(), ["Cancelled"]);
  });

  test("a flow handler that throws fails the flow, naming the handler", async () => {
    const t = task("t", () => 1);
    const f = flow(unique("flow-handler-throws"), () => t(), {
      onStateChange: [
        function audit(_s, _o, next) {
          if (next.type === "Success") throw new Error("audit log down");
        },
      ],
    });
    const run = await f.run();
    assert.equal(run.state.type, "Failed");
    assert.match(
      run.state.message ?? "",
      /^state handler "audit" of flow ".*" threw on Running → Success: audit log down/,
    );
  });

  test("options are checked when the task or flow is defined", () => {
    assert.throws(
      () => task("bad", () => 1, { onStateChange: ["nope" as unknown as StateHandler] }),
      /INVALID_TASK_OPTIONS|onStateChange/,
    );
    assert.throws(
      () => flow(unique("bad"), () => undefined, { onStateChange: "x" as unknown as [] }),
      /onStateChange must be an array of functions/,
    );
  });
});
