import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { Fail, flow, merge, parameter, task, when } from "../../src/index.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

// Branch tasks take a reference input: see test/core/after-ordering.test.ts for input-less ones.
const isLarge = task("is-large", (n: number) => n > 100);
const compress = task("compress", (n: number) => `compressed ${n}`);
const copy = task("copy", (n: number) => `copied ${n}`);
const shout = task("shout", (s: string) => s.toUpperCase());
const boom = task("boom", (_n: number): string => {
  throw new Fail("boom");
});

const branching = flow(unique("when-merge"), () => {
  const size = parameter("size", 10);
  const large = isLarge(size);
  const big = when(large, true, () => shout(compress(size)));
  const small = when(large, false, () => shout(copy(size)));
  return { big, small, out: merge(big, small) };
});

describe("when / merge", () => {
  test("only the matching branch runs; the other is Skipped down its whole length", async () => {
    const run = await branching.run({ parameters: { size: 500 } });
    assert.equal(run.state.type, "Success");
    assert.equal(run.result(branching.outputs.out), "COMPRESSED 500");
    assert.equal(run.stateOf("compress-1").type, "Success");
    assert.equal(run.stateOf("copy-1").type, "Skipped");
    assert.equal(run.stateOf(branching.outputs.small).type, "Skipped");
    assert.match(run.stateOf("when-2").message ?? "", /condition not met: true is not false/);
    assert.deepEqual(run.outputs, {
      big: "COMPRESSED 500",
      small: undefined,
      out: "COMPRESSED 500",
    });
  });

  test("the other value picks the other branch", async () => {
    const run = await branching.run({ parameters: { size: 5 } });
    assert.equal(run.result(branching.outputs.out), "COPIED 5");
    assert.equal(run.stateOf("compress-1").type, "Skipped");
    assert.equal(run.stateOf(branching.outputs.big).type, "Skipped");
    assert.equal(run.state.type, "Success");
  });

  test("only the branch's entry tasks wait for the condition", () => {
    const g = branching.build();
    const when1 = g.node("when-1").index;
    assert.ok(g.node("compress-1").upstream.includes(when1));
    assert.ok(!g.node("shout-1").upstream.includes(when1));
    assert.deepEqual(
      [...g.edges()].filter((e) => e.key === "after").map((e) => `${e.upstream}>${e.downstream}`),
      ["when-1>compress-1", "when-2>copy-1"],
    );
  });

  test("conditions compare with Object.is", async () => {
    const sign = task("sign", (n: number) => Math.sign(n));
    const f = flow(unique("when-object-is"), () => {
      const s = sign(parameter("n", -0));
      return {
        negZero: when(s, -0, () => copy(s)),
        zero: when(s, 0, () => compress(s)),
      };
    });
    const run = await f.run();
    assert.equal(run.stateOf(f.outputs.negZero).type, "Success");
    assert.equal(run.stateOf(f.outputs.zero).type, "Skipped");
  });

  test("merge is Skipped when every branch was skipped, and takes the first non-skipped in order", async () => {
    const f = flow(unique("merge-order"), () => {
      const n = parameter("n", 1);
      const flag = isLarge(n);
      const a = when(flag, true, () => copy(n));
      const b = compress(n);
      const c = copy(n);
      return { none: merge(a, a), first: merge(a, b, c) };
    });
    const run = await f.run();
    assert.equal(run.stateOf(f.outputs.none).type, "Skipped");
    assert.match(run.stateOf(f.outputs.none).message ?? "", /every merged branch was skipped/);
    assert.equal(run.result(f.outputs.first), "compressed 1");
    assert.match(run.stateOf(f.outputs.first).message ?? "", /merged from compress-1/);
  });

  test("a failed condition input fails the branch and the merge, not skips them", async () => {
    const f = flow(unique("when-failed"), () => {
      const n = parameter("n", 1);
      const bad = boom(n);
      const out = when(bad, "x", () => shout(bad));
      return merge(out, copy(n));
    });
    const run = await f.run();
    assert.equal(run.stateOf("when-1").type, "TriggerFailed");
    assert.equal(run.stateOf("shout-1").type, "TriggerFailed");
    assert.equal(run.stateOf(f.outputs).type, "TriggerFailed");
    assert.equal(run.state.type, "Failed");
  });
});
