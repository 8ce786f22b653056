// The engine's side of concurrency limits: a run given a TaskGate sends every
// task run that carries tags through it (and no other), reports a Pending state
// saying why while it waits, holds the slot through retries and gives it back
// before its final state is reported; a cancel while waiting ends it Cancelled
// and a refusal fails it. The gate here is a real one kept in memory (a counting
// semaphore per tag), standing where an agent puts the server's.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import {
  context,
  flow,
  type GatedTaskRun,
  type Reporter,
  type State,
  type TaskGate,
  task,
} from "../../src/index.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

/** An in-memory gate: `limit` slots per tag, waiters served in order; every call recorded. */
function memoryGate(limit: number) {
  const held = new Map<string, number>();
  const waiters: (() => void)[] = [];
  const events: string[] = [];
  const key = (t: GatedTaskRun) => `${t.slug}${t.mapIndex === undefined ? "" : `[${t.mapIndex}]`}`;
  const free = (t: GatedTaskRun) => t.tags.every((tag) => (held.get(tag) ?? 0) < limit);
  const gate: TaskGate = {
    async enter(t, signal, waiting) {
      events.push(`enter ${key(t)}`);
      while (!free(t)) {
        waiting(`waiting for a slot of "${t.tags.join(",")}"`);
        await new Promise<void>((resolve, reject) => {
          const wake = () => {
            signal.removeEventListener("abort", abort);
            resolve();
          };
          const abort = () => {
            const i = waiters.indexOf(wake);
            if (i >= 0) waiters.splice(i, 1);
            reject(signal.reason);
          };
          waiters.push(wake);
          signal.addEventListener("abort", abort, { once: true });
        });
      }
      for (const tag of t.tags) held.set(tag, (held.get(tag) ?? 0) + 1);
      events.push(`got ${key(t)}`);
    },
    async exit(t) {
      for (const tag of t.tags) held.set(tag, (held.get(tag) ?? 0) - 1);
      events.push(`exit ${key(t)}`);
      for (const wake of waiters.splice(0)) wake();
    },
  };
  return { gate, events };
}

/** A reporter keeping task states as `slug[i] Type message`, in order, into `into`. */
function recording(into: string[]): Reporter {
  return {
    taskState(_run, t, mapIndex, state: State) {
      const index = mapIndex === undefined ? "" : `[${mapIndex}]`;
      into.push(`${t.slug}${index} ${state.type}${state.message ? ` ${state.message}` : ""}`);
    },
  };
}

describe("the task gate (concurrency limits in the engine)", () => {
  test("only tagged task runs pass the gate; with one slot they never overlap, and untagged ones do not wait", async () => {
    const { gate, events } = memoryGate(1);
    let running = 0;
    let most = 0;
    const work = task(
      "work",
      async (i: number) => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 15));
        running--;
        return i;
      },
      { tags: ["db"] },
    );
    const free = task("free", (i: number) => i * 10);
    const f = flow(unique("gated"), () => ({ a: work.map([0, 1, 2, 3]), b: free.map([1, 2]) }));
    const states: string[] = [];
    const run = await f.run({ taskGate: gate, reporter: recording(states) });
    assert.equal(run.state.type, "Success", run.state.message);
    assert.deepEqual(run.outputs, { a: [0, 1, 2, 3], b: [10, 20] });
    assert.equal(most, 1, "one slot: never two at once");
    assert.ok(!events.some((e) => e.includes("free")), "untagged tasks never touch the gate");
    assert.equal(events.filter((e) => e.startsWith("got")).length, 4);
    assert.equal(events.filter((e) => e.startsWith("exit")).length, 4);
    // A waiting child said why, as Pending, before it ran.
    const waited = states.filter((s) => / Pending waiting for a slot of "db"$/.test(s));
    assert.ok(waited.length >= 1, `some child waited: ${states.join(" | ")}`);
  });

  test("the slot is held through retries and given back once, before the final state", async () => {
    const { gate, events } = memoryGate(1);
    const order: string[] = [];
    let attempts = 0;
    const flaky = task(
      "flaky",
      () => {
        attempts++;
        if (attempts < 3) throw new Error(`attempt ${attempts}`);
        return "ok";
      },
      { tags: ["api"], retries: 3, retryDelay: 5 },
    );
    const f = flow(unique("retries"), () => flaky());
    const reporter: Reporter = {
      taskState(_r, t, _i, state) {
        order.push(`${t.slug} ${state.type}`);
        if (state.isFinished())
          order.push(`exits so far: ${events.filter((e) => e.startsWith("exit")).length}`);
      },
    };
    const run = await f.run({ taskGate: gate, reporter });
    assert.equal(run.state.type, "Success", run.state.message);
    assert.deepEqual(events, ["enter flaky-1", "got flaky-1", "exit flaky-1"]);
    assert.deepEqual(order, [
      "flaky-1 Running",
      "flaky-1 Retrying",
      "flaky-1 Retrying",
      "flaky-1 Success",
      "exits so far: 1",
    ]);
  });

  test("a run cancelled while a task waits ends it Cancelled; a gate that refuses fails it", async () => {
    const { gate } = memoryGate(1);
    const hold = task(
      "hold",
      async () => {
        const { signal } = context();
        await new Promise((_r, reject) =>
          signal.addEventListener("abort", () => reject(signal.reason)),
        );
      },
      { tags: ["one"] },
    );
    const waiter = task("waiter", () => 1, { tags: ["one"] });
    const f = flow(unique("cancel"), () => ({ h: hold(), w: waiter() }));
    const controller = new AbortController();
    const states: string[] = [];
    const reporter = recording(states);
    const done = f.run({
      taskGate: gate,
      signal: controller.signal,
      reporter: {
        taskState(run, t, i, state) {
          reporter.taskState!(run, t, i, state);
          if (state.type === "Pending") controller.abort(new Error("stop"));
        },
      },
    });
    const run = await done;
    assert.equal(run.stateOf("waiter-1").type, "Cancelled");
    assert.ok(states.includes('waiter-1 Pending waiting for a slot of "one"'), states.join(" | "));

    const refusing: TaskGate = {
      enter: async () => {
        throw new Error("the server said no");
      },
      exit: async () => {
        throw new Error("never called");
      },
    };
    const g = flow(unique("refused"), () => waiter());
    const refused = await g.run({ taskGate: refusing });
    assert.equal(refused.stateOf("waiter-1").type, "Failed");
    assert.match(
      refused.stateOf("waiter-1").message ?? "",
      /could not take its concurrency slots: the server said no/,
    );
  });

  test("without a gate, tags change nothing (flow.run() ignores limits)", async () => {
    let running = 0;
    let most = 0;
    const work = task(
      "work",
      async (_i: number) => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 20));
        running--;
      },
      { tags: ["db"] },
    );
    const f = flow(unique("ungated"), () => work.map([1, 2, 3]));
    const run = await f.run();
    assert.equal(run.state.type, "Success");
    assert.equal(most, 3);
  });
});
