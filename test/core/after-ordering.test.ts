// .after() and when() on tasks that take no reference input. A defect found while
// writing this suite (Ref.after() pushed into the one empty upstream array that
// every input-less task shares) corrupted module state for the rest of the
// process, so these regression tests keep a process of their own.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { flow, merge, parameter, task, when } from "../../src/index.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

const order: string[] = [];
const noop = task("noop", () => undefined);
const step = task("step", (name: string) => {
  order.push(name);
  return name;
});
const inc = task("inc", (x: number) => x + 1);

// First in the file, while the module state is still clean.
test(".after() in one flow leaves the tasks of later flows alone", async () => {
  const first = flow(unique("orders"), () => {
    const a = noop();
    const b = inc(parameter("p", 1));
    a.after(b);
    return a;
  });
  assert.deepEqual(
    first.graph.nodes.map((n) => n.upstream),
    [[2], [], [1]],
  );
  const later = flow(unique("innocent"), () => noop());
  assert.deepEqual(later.graph.nodes[0]!.upstream, []);
  assert.equal((await later.run()).state.type, "Success");
});

test("an input-less task ordered with .after() runs after its upstream", async () => {
  order.length = 0;
  const f = flow(unique("setup-load"), () => {
    const setup = step("setup");
    const load = step("load");
    load.after(setup);
    return load;
  });
  const g = f.build();
  assert.deepEqual(
    [...g.edges()],
    [{ upstream: "step-1", downstream: "step-2", key: "after", mapped: false }],
  );
  const run = await f.run({ executor: "concurrent" });
  assert.equal(run.state.type, "Success");
  assert.deepEqual(order, ["setup", "load"]);
});

test("when() with an input-less task in its branch", async () => {
  const pick = flow(unique("when-noinput"), () => {
    const flag = parameter("flag", true);
    const yes = when(flag, true, () => step("yes"));
    const no = when(flag, false, () => step("no"));
    return merge(yes, no);
  });
  const run = await pick.run({ parameters: { flag: false } });
  assert.equal(run.state.type, "Success");
  assert.equal(run.result(pick.outputs), "no");
  assert.equal(run.stateOf("step-1").type, "Skipped");
});
