// Map jobs on their own (src/engine/run/map-jobs.ts) and the upstream
// judging they feed (upstream.ts): a real graph, with the states a walk would
// hold when the mapped node becomes ready.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Ref } from "../../../src/core/graph.ts";
import {
  alignedUpstreams,
  childArgs,
  listlessArgument,
  type MapJob,
  type MapSource,
  mappedState,
  nothingToMap,
  openMapJob,
  recordChild,
  summarizeChild,
} from "../../../src/engine/run/map-jobs.ts";
import { judge, summarize } from "../../../src/engine/run/upstream.ts";
import { flow, State, task, unmapped } from "../../../src/index.ts";

const nums = task("nums", (): number[] => [1, 2, 3]);
const konst = task("konst", () => 100);
const double = task("double", (x: number) => 2 * x);
const add = task("add", (a: number, b: number, c: number) => a + b + c);
// nums-1 (0), konst-1 (1), double-1 (2, mapped over nums), add-1 (3, mapped over double's children).
const demo = flow("map-jobs-demo", () => {
  const xs = nums();
  const k = konst();
  const ys = double.map(xs);
  return add.map(ys, [10, 20, 30], unmapped(k));
});
const graph = demo.graph;
const node = graph.nodes[3]!;

const ok = (result: unknown) => new State("Success", undefined, result);
const mapped = (...children: State[]) =>
  new State("Mapped", "m", undefined, undefined, 0, 0, undefined, children);

/** What the walk holds: states by node index, and results read from them. */
function source(states: (State | undefined)[]): MapSource {
  const resultOf = (i: number): unknown => {
    const state = states[i]!;
    return state.children === undefined ? state.result : state.children.map((c) => c.result);
  };
  return {
    states,
    resultOf,
    resolveValue: (arg) => (arg instanceof Ref ? resultOf(arg.index) : arg),
  };
}

const ready = () => [
  ok([1, 2, 3]),
  ok(100),
  mapped(ok(2), new State("Skipped", "no"), ok(6)),
  undefined,
];
const base = { total: 1, successful: 1, failed: 0, skipped: 0 };

describe("a map job", () => {
  test("opens as a cursor over the children, each judged on the base plus its aligned upstream children", () => {
    const states = ready();
    const src = source(states);
    assert.deepEqual([...(alignedUpstreams(node, states) ?? [])], [2]);
    const summary = { ...base };
    const job = openMapJob(node, src, summary, 5) as MapJob;
    assert.ok(!(job instanceof State));
    assert.equal(job.count, 3);
    assert.equal(job.next, 0);
    assert.equal(job.done, 0);
    assert.notEqual(job.base, summary, "the base is the job's own copy");
    assert.deepEqual(childArgs(job, 0, src), [2, 10, 100]);
    assert.deepEqual(childArgs(job, 2, src), [6, 30, 100]);
    // Child 1 sees the skipped child 1 of double-1 on top of the base (konst-1).
    summarizeChild(job, 1, summary);
    assert.deepEqual(summary, { total: 2, successful: 2, failed: 0, skipped: 1 });
    assert.equal(judge(node, summary, new Set())?.type, "Skipped");
    summarizeChild(job, 0, summary);
    assert.equal(judge(node, summary, new Set()), undefined);
  });

  test("the whole-node tally leaves the aligned upstreams out", () => {
    const states = ready();
    const summary = { total: 9, successful: 9, failed: 9, skipped: 9 };
    summarize(summary, states, node.upstream, alignedUpstreams(node, states));
    assert.deepEqual(summary, { total: 1, successful: 1, failed: 0, skipped: 0 });
    summarize(summary, states, node.upstream, undefined);
    assert.deepEqual(summary, { total: 4, successful: 4, failed: 0, skipped: 1 });
  });

  test("a mapped upstream adds its job's tally, but only when that tally is of the children it holds", () => {
    const states = ready();
    const children = states[2]!.children!;
    const summary = { total: 0, successful: 0, failed: 0, skipped: 0 };
    // A tally that disagrees with the children shows which one was read.
    const tally = { total: 3, successful: 1, failed: 2, skipped: 0 };
    summarize(
      summary,
      states,
      node.upstream,
      undefined,
      new Map([[2, { childStates: children, tally }]]),
    );
    assert.deepEqual(summary, { total: 4, successful: 2, failed: 2, skipped: 0 });
    // Other children (a state handler answered another Mapped state): counted one by one.
    summarize(
      summary,
      states,
      node.upstream,
      undefined,
      new Map([[2, { childStates: [], tally }]]),
    );
    assert.deepEqual(summary, { total: 4, successful: 4, failed: 0, skipped: 1 });
  });

  test("an argument whose upstream ended without a list is found, and named in the Failed state", () => {
    const states = ready();
    assert.equal(listlessArgument(node, states), undefined);
    const failed = new State("Failed", "boom");
    states[2] = failed;
    const from = listlessArgument(node, states);
    assert.equal(from?.slug, "double-1");
    states[2] = new State("Skipped", "no");
    assert.equal(listlessArgument(node, states)?.slug, "double-1");
    const state = nothingToMap(node, from!, failed, 5);
    assert.equal(state.type, "Failed");
    assert.equal(state.error?.type, "MapError");
    assert.equal(state.message, "add.map() has nothing to map over: double-1 ended Failed (boom)");
  });

  test("an argument that is not an array fails the node with a MapError naming it", () => {
    const states = ready();
    states[2] = ok(7);
    const state = openMapJob(node, source(states), base, 5) as State;
    assert.equal(state.type, "Failed");
    assert.equal(state.error?.type, "MapError");
    assert.equal(
      state.message,
      "argument 0 of add.map() must be an array, but double-1 returned number",
    );
    assert.equal(state.startedAt, 5);
  });

  test("lists of different lengths fail the node with a MapError", () => {
    const states = ready();
    states[2] = mapped(ok(2), ok(4));
    const state = openMapJob(node, source(states), base, 5) as State;
    assert.equal(state.type, "Failed");
    assert.equal(
      state.message,
      "the mapped arguments of add.map() differ in length: 2 and 3 items (argument 1)",
    );
  });

  test("no items: the node ends Mapped with no children", () => {
    const states = ready();
    states[0] = ok([]);
    const state = openMapJob(graph.nodes[2]!, source(states), base, 5) as State;
    assert.equal(state.type, "Mapped");
    assert.equal(state.message, "mapped over 0 items");
    assert.deepEqual(state.children, []);
  });

  test("a finished job tallies its children into the Mapped state", () => {
    const job = openMapJob(node, source(ready()), base, 5) as MapJob;
    assert.equal(recordChild(job, 0, ok(112)), false);
    assert.equal(recordChild(job, 2, new State("Failed", "boom")), false);
    assert.equal(recordChild(job, 1, new State("Skipped", "no")), true);
    assert.equal(job.childStates[2]?.type, "Failed");
    const state = mappedState(job);
    assert.equal(state.type, "Mapped");
    assert.equal(state.message, "3 children: 1 succeeded, 1 failed, 1 skipped");
    assert.equal(state.children, job.childStates);
    assert.equal(state.startedAt, 5);
  });
});
