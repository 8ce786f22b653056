// The final-state decision on its own (src/engine/run/final-state.ts): the
// order of its rules, on a real graph, with the states a walk would leave.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import {
  cancelUnfinished,
  decideFinalState,
  type WalkOutcome,
} from "../../../src/engine/run/final-state.ts";
import type { MapJob } from "../../../src/engine/run/map-jobs.ts";
import type { FlowRunInfo, Reporter } from "../../../src/index.ts";
import { flow, State, task } from "../../../src/index.ts";

const src = task("src", () => 1);
const f = task("f", (x: number) => x);
const g = task("g", (x: number) => x);
// src-1 (0) feeds f-1 (1) and the mapped g-1 (2); the reference tasks are f-1 and g-1.
const demo = flow("final-state-demo", () => {
  const a = src();
  return { b: f(a), c: g.map([a, a]) };
});
const graph = demo.graph;

const ok = () => new State("Success", undefined, 1);
const failed = () => new State("Failed", "boom");
const mapped = (...children: State[]) =>
  new State("Mapped", "m", undefined, undefined, 0, 0, undefined, children);

/** The walk's outcome; `failed` counts the failed runs among the states, as the walk does. */
function outcome(over: Partial<Omit<WalkOutcome, "failed">>): WalkOutcome {
  const base = {
    started: 1000,
    crash: undefined,
    cancelled: false,
    unsettled: [],
    nodes: graph.nodes,
    states: [ok(), ok(), mapped(ok(), ok())],
    referenceNodes: graph.referenceNodes,
    paused: 0,
    strict: false,
    ...over,
  };
  const runs = base.states.flatMap((s) => (s === undefined ? [] : (s.children ?? [s])));
  return { ...base, failed: runs.filter((s) => s.isFailed()).length };
}

describe("the final state", () => {
  test("all reference tasks succeeded: Success, started when the run started", () => {
    const state = decideFinalState(outcome({}));
    assert.equal(state.type, "Success");
    assert.equal(state.message, "all 2 reference tasks succeeded");
    assert.equal(state.startedAt, 1000);
  });

  test("a crash wins over cancellation, tasks that never settled and failures", () => {
    const state = decideFinalState(
      outcome({
        crash: new Error("executor lost"),
        cancelled: true,
        unsettled: ["f-1"],
        states: [ok(), failed(), undefined],
      }),
    );
    assert.equal(state.type, "Failed");
    assert.equal(state.message, "the engine failed: executor lost");
    assert.equal(state.error?.message, "executor lost");
  });

  test("cancellation wins over tasks that never settled and failed reference tasks", () => {
    const state = decideFinalState(
      outcome({ cancelled: true, unsettled: ["f-1"], states: [ok(), failed(), undefined] }),
    );
    assert.equal(state.type, "Cancelled");
    assert.equal(state.message, "the flow run was cancelled");
  });

  test("tasks that never settled win over failed reference tasks; the first five are named", () => {
    const labels = ["f-1", "g-1[0]", "g-1[1]", "g-1[2]", "g-1[3]", "g-1[4]"];
    const state = decideFinalState(
      outcome({ unsettled: labels, states: [ok(), failed(), undefined] }),
    );
    assert.equal(state.type, "Failed");
    assert.equal(state.message, "6 tasks never settled: f-1, g-1[0], g-1[1], g-1[2], g-1[3], …");
  });

  test("a reference task whose child failed fails the run, even when another reference waits", () => {
    const state = decideFinalState(
      outcome({ states: [ok(), new State("Paused", "wait"), mapped(ok(), failed())], paused: 1 }),
    );
    assert.equal(state.type, "Failed");
    assert.equal(state.message, "1 of 2 reference tasks failed: g-1");
  });

  test("strict: a failed task outside the reference tasks fails the run, naming it", () => {
    const states = [failed(), ok(), mapped(ok(), ok())];
    const strict = decideFinalState(outcome({ states, strict: true }));
    assert.equal(strict.type, "Failed");
    assert.equal(strict.message, "strict: 1 task failed: src-1 (the reference tasks succeeded)");
    const lax = decideFinalState(outcome({ states }));
    assert.equal(lax.type, "Success");
    assert.equal(lax.message, "all 2 reference tasks succeeded, but 1 other task failed: src-1");
  });

  test("strict wins over a pause; without strict a waiting reference task pauses the run", () => {
    // f-1 never reached (undefined): its upstream paused.
    const states = [new State("Paused", "wait"), undefined, mapped(ok(), failed())];
    const refs = [1];
    const strict = decideFinalState(
      outcome({ states, referenceNodes: refs, paused: 1, strict: true }),
    );
    assert.equal(strict.type, "Failed");
    assert.equal(strict.message, "strict: 1 task failed: g-1[1] (the reference tasks succeeded)");
    const lax = decideFinalState(outcome({ states, referenceNodes: refs, paused: 1 }));
    assert.equal(lax.type, "Paused");
    assert.equal(lax.message, "1 task(s) wait for approval (manual_only, or Pause)");
  });
});

describe("cancelling what did not finish", () => {
  test("marks and reports every started child and every node without a state, and nothing else", () => {
    const first = ok();
    const childStates: State[] = new Array(3);
    childStates[0] = first;
    const job: MapJob = {
      index: 2,
      count: 3,
      next: 2,
      done: 1,
      startedAt: 0,
      base: { total: 1, successful: 1, failed: 0, skipped: 0 },
      lists: [[1, 1, 1]],
      consts: [undefined],
      aligned: [],
      childStates,
      tally: { total: 1, successful: 1, failed: 0, skipped: 0 },
      paused: 0,
    };
    const states: (State | undefined)[] = [ok(), undefined, undefined];
    const seen: string[] = [];
    const reporter: Reporter = {
      taskState: (_info, node, mapIndex, state) =>
        seen.push(`${node.slug}${mapIndex === undefined ? "" : `[${mapIndex}]`} ${state.type}`),
    };
    const info: FlowRunInfo = { id: "r", flowName: demo.name, parameters: {}, taskCount: 3 };
    cancelUnfinished(graph.nodes, states, [job], reporter, info);
    assert.deepEqual(seen, ["g-1[1] Cancelled", "f-1 Cancelled", "g-1 Cancelled"]);
    assert.equal(childStates[0], first);
    assert.equal(childStates[2], undefined, "a child never started stays without a state");
    assert.equal(states[0]?.type, "Success");
    assert.deepEqual(
      states.map((s) => s?.type),
      ["Success", "Cancelled", "Cancelled"],
    );
  });
});
