// Branching helpers (ifElse, switchOn), structural `when`, and branching per
// mapped child with element-wise merge of mapped branches.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { structuralEqual } from "../../src/core/conditions.ts";
import {
  flow,
  ifElse,
  isWeftError,
  merge,
  parameter,
  type State,
  switchOn,
  task,
  unmapped,
  when,
} from "../../src/index.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

const pair = task("pair", (n: number) => [n, n + 1]);
const when2 = task("when-date", (ms: number) => ({ at: new Date(ms), tags: ["a", "b"] }));
const label = task("label", (x: unknown) => `got ${JSON.stringify(x)}`);
const isEven = task("is-even", (n: number) => n % 2 === 0);
const half = task("half", (n: number) => n / 2);
const triple = task("triple", (n: number) => n * 3 + 1);
const kind = task("kind", (n: number) => (n % 3 === 0 ? "fizz" : n % 3 === 1 ? "one" : "two"));
const tag = task("tag", (prefix: string, n: number) => `${prefix}${n}`);
const sum = task("sum", (xs: number[]) => xs.reduce((a, b) => a + b, 0));

function childTypes(state: State): string[] {
  return (state.children ?? []).map((c) => c.type);
}

describe("structural when", () => {
  test("an array value matches an equal array (Object.is never did)", async () => {
    const f = flow(unique("when-array"), () => {
      const p = pair(parameter("n", 1));
      return { yes: when(p, [1, 2], () => label(p)), no: when(p, [1, 3], () => label(p)) };
    });
    const run = await f.run();
    assert.equal(run.state.type, "Success");
    assert.equal(run.result(f.outputs.yes), "got [1,2]");
    assert.equal(run.stateOf(f.outputs.no).type, "Skipped");
    assert.match(run.stateOf("when-2").message ?? "", /\[1,2\] is not \[1,3\]/);
  });

  test("plain objects and dates compare by content", async () => {
    const f = flow(unique("when-object"), () => {
      const v = when2(parameter("ms", 0));
      return when(v, { tags: ["a", "b"], at: new Date(0) }, () => label(v));
    });
    const run = await f.run();
    assert.equal(run.stateOf(f.outputs).type, "Success");
  });

  test("structuralEqual: plain data by content, everything else by Object.is", () => {
    assert.ok(structuralEqual([1, { a: [2] }], [1, { a: [2] }]));
    assert.ok(structuralEqual(Object.assign(Object.create(null), { a: 1 }), { a: 1 }));
    assert.ok(structuralEqual(new Date(5), new Date(5)));
    assert.ok(structuralEqual(Number.NaN, Number.NaN));
    assert.ok(!structuralEqual(0, -0));
    assert.ok(!structuralEqual([1, 2], [1, 2, 3]));
    assert.ok(!structuralEqual({ a: 1 }, { a: 1, b: undefined }));
    assert.ok(!structuralEqual({ a: 1 }, [1]));
    assert.ok(!structuralEqual(new Date(5), 5));
    assert.ok(!structuralEqual(new Map([[1, 2]]), new Map([[1, 2]])));
    class Point {
      constructor(readonly x: number) {}
    }
    assert.ok(!structuralEqual(new Point(1), new Point(1)));
    const a: unknown[] = [];
    a.push(a);
    const b: unknown[] = [];
    b.push(b);
    assert.ok(structuralEqual(a, a));
    assert.ok(!structuralEqual(a, b), "distinct cycles end at the depth limit");
  });
});

describe("ifElse", () => {
  const f = flow(unique("if-else"), () => {
    const n = parameter("n", 4);
    const [even, odd] = ifElse(
      isEven(n),
      () => half(n),
      () => triple(n),
    );
    return { even, odd, out: merge(even, odd) };
  });

  test("a truthy condition runs the first branch and skips the second", async () => {
    const run = await f.run({ parameters: { n: 4 } });
    assert.equal(run.result(f.outputs.out), 2);
    assert.equal(run.stateOf(f.outputs.odd).type, "Skipped");
    assert.match(run.stateOf("else-1").message ?? "", /condition not met: true is truthy/);
    assert.equal(run.state.type, "Success");
  });

  test("a falsy condition runs the second branch", async () => {
    const run = await f.run({ parameters: { n: 3 } });
    assert.equal(run.result(f.outputs.out), 10);
    assert.equal(run.stateOf(f.outputs.even).type, "Skipped");
    assert.equal(run.stateOf("if-1").type, "Skipped");
  });

  test("slugs are deterministic: if-1 and else-1 guard the entry tasks", () => {
    const g = f.build();
    assert.deepEqual(
      [...g.edges()].filter((e) => e.key === "after").map((e) => `${e.upstream}>${e.downstream}`),
      ["if-1>half-1", "else-1>triple-1"],
    );
  });
});

describe("switchOn", () => {
  const f = flow(unique("switch"), () => {
    const k = kind(parameter("n", 3));
    const out = switchOn(k, {
      fizz: () => tag("fizz:", 0),
      one: () => tag("one:", 1),
    });
    return { ...out, merged: merge(out.fizz, out.one) };
  });

  test("runs the case equal to the value and skips the others", async () => {
    const run = await f.run({ parameters: { n: 4 } });
    assert.equal(run.result(f.outputs.merged), "one:1");
    assert.equal(run.stateOf(f.outputs.fizz).type, "Skipped");
    assert.equal(run.stateOf(f.outputs.one).type, "Success");
  });

  test("no matching case: every branch and the merge are Skipped, the flow succeeds", async () => {
    const run = await f.run({ parameters: { n: 5 } });
    assert.equal(run.stateOf(f.outputs.fizz).type, "Skipped");
    assert.equal(run.stateOf(f.outputs.one).type, "Skipped");
    assert.equal(run.stateOf(f.outputs.merged).type, "Skipped");
    assert.equal(run.state.type, "Success");
  });

  test("numbers and booleans match their case key", async () => {
    const g = flow(unique("switch-number"), () => {
      const n = half(parameter("n", 4));
      return switchOn(n, { 2: () => label(n), 3: () => label(n) });
    });
    const run = await g.run();
    assert.equal(run.stateOf(g.outputs[2]).type, "Success");
    assert.equal(run.stateOf(g.outputs[3]).type, "Skipped");
  });

  test("no cases is refused when the flow is built", () => {
    const g = flow(unique("switch-empty"), () => switchOn(kind(parameter("n", 1)), {}));
    assert.throws(
      () => g.build(),
      (e) => isWeftError(e) && e.code === "INVALID_ARGUMENT" && /at least one case/.test(e.message),
    );
  });
});

describe("branching per mapped child", () => {
  test("when on a mapped ref branches child by child; merge merges element-wise", async () => {
    const f = flow(unique("mapped-when"), () => {
      const xs = parameter("xs", [1, 2, 3, 4]);
      const flags = isEven.map(xs);
      const evens = when(flags, true, () => half.map(xs));
      const odds = when(flags, false, () => triple.map(xs));
      return { flags, evens, odds, out: merge(evens, odds) };
    });
    const run = await f.run();
    assert.equal(run.state.type, "Success");
    assert.deepEqual(childTypes(run.stateOf(f.outputs.evens)), [
      "Skipped",
      "Success",
      "Skipped",
      "Success",
    ]);
    assert.deepEqual(childTypes(run.stateOf(f.outputs.odds)), [
      "Success",
      "Skipped",
      "Success",
      "Skipped",
    ]);
    assert.deepEqual(run.result(f.outputs.out), [4, 1, 10, 2]);
    assert.equal(run.stateOf(f.outputs.out).type, "Mapped");
    assert.match(run.stateOf(f.outputs.out).children![1]!.message ?? "", /merged from half-1\[1\]/);
  });

  test("the skip flows down each child of the branch; a reduce after it is Skipped", async () => {
    const f = flow(unique("mapped-when-chain"), () => {
      const xs = parameter("xs", [2, 3]);
      const evens = when(isEven.map(xs), true, () => triple.map(half.map(xs)));
      return { evens, total: sum(evens) };
    });
    const run = await f.run();
    assert.deepEqual(childTypes(run.stateOf(f.outputs.evens)), ["Success", "Skipped"]);
    assert.deepEqual(run.result(f.outputs.evens), [4, undefined]);
    assert.equal(run.stateOf(f.outputs.total).type, "Skipped");
  });

  test("ifElse and switchOn on a mapped ref branch per child too", async () => {
    const f = flow(unique("mapped-switch"), () => {
      const xs = parameter("xs", [3, 4, 5]);
      const k = kind.map(xs);
      const cases = switchOn(k, {
        fizz: () => tag.map(unmapped("fizz:"), xs),
        one: () => tag.map(unmapped("one:"), xs),
        two: () => tag.map(unmapped("two:"), xs),
      });
      const [even, odd] = ifElse(
        isEven.map(xs),
        () => half.map(xs),
        () => triple.map(xs),
      );
      return {
        names: merge(cases.fizz, cases.one, cases.two),
        numbers: merge(even, odd),
      };
    });
    const run = await f.run();
    assert.deepEqual(run.result(f.outputs.names), ["fizz:3", "one:4", "two:5"]);
    assert.deepEqual(run.result(f.outputs.numbers), [10, 2, 16]);
  });

  test("a failed child of a branch fails that child of the merge only", async () => {
    const shaky = task("shaky", (n: number) => {
      if (n === 4) throw new Error("four");
      return n;
    });
    const f = flow(unique("mapped-merge-failed"), () => {
      const xs = parameter("xs", [2, 3, 4]);
      const flags = isEven.map(xs);
      const evens = when(flags, true, () => shaky.map(xs));
      const odds = when(flags, false, () => triple.map(xs));
      return merge(evens, odds);
    });
    const run = await f.run();
    assert.deepEqual(childTypes(run.stateOf(f.outputs)), ["Success", "Success", "TriggerFailed"]);
    assert.equal(run.state.type, "Failed");
  });

  test("a mapped condition that failed as a whole fails its branch as a whole", async () => {
    const broken = task("broken", (): number[] => {
      throw new Error("no list");
    });
    const f = flow(unique("mapped-when-whole"), () => {
      const list = broken();
      const flags = isEven.map(list);
      const evens = when(flags, true, () => half.map(list));
      const odds = when(flags, false, () => triple.map(list));
      return merge(evens, odds);
    });
    const run = await f.run();
    assert.equal(run.stateOf("when-1").type, "TriggerFailed");
    assert.equal(run.stateOf("half-1").type, "TriggerFailed");
    assert.equal(run.stateOf(f.outputs).type, "TriggerFailed");
    assert.equal(run.state.type, "Failed");
  });

  test("a branch on a mapped ref whose entry task is not mapped is refused when built", () => {
    const f = flow(unique("mapped-when-unmapped"), () => {
      const xs = parameter("xs", [1, 2]);
      return when(isEven.map(xs), true, () => sum(xs));
    });
    assert.throws(
      () => f.build(),
      (e) =>
        isWeftError(e) &&
        e.code === "INVALID_ARGUMENT" &&
        /mapped task is-even-1 branches child by child, but sum-1 in the branch is not mapped/.test(
          e.message,
        ),
    );
  });

  test("merge of a mapped and an unmapped branch is refused when built", () => {
    const f = flow(unique("merge-mixed"), () => {
      const xs = parameter("xs", [1, 2]);
      return merge(half.map(xs), sum(xs));
    });
    assert.throws(
      () => f.build(),
      (e) =>
        isWeftError(e) &&
        e.code === "INVALID_ARGUMENT" &&
        /half-1 is mapped but sum-1 is not/.test(e.message),
    );
  });

  test("a branch mapped over other items than its condition fails with a MapError", async () => {
    const f = flow(unique("mapped-when-length"), () => {
      const flags = isEven.map(parameter("xs", [1, 2]));
      return when(flags, true, () => half.map(parameter("ys", [1, 2, 3])));
    });
    const run = await f.run();
    const state = run.stateOf(f.outputs);
    assert.equal(state.type, "Failed");
    assert.equal(state.error?.type, "MapError");
    assert.match(state.message ?? "", /maps over 3 items but its branch condition when-1 has 2/);
  });

  test("merge of mapped branches of different lengths fails with a MapError", async () => {
    const f = flow(unique("mapped-merge-length"), () =>
      merge(half.map(parameter("xs", [2, 4])), half.map(parameter("ys", [2, 4, 6]))),
    );
    const run = await f.run();
    assert.equal(run.stateOf(f.outputs).type, "Failed");
    assert.match(run.stateOf(f.outputs).message ?? "", /2 and 3 children/);
  });
});
