// Type-level tests of the branching helpers, checked by `tsc --noEmit` (the
// runtime assertion only makes sure the flow builds).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { expectTypeOf } from "expect-type";
import { flow, ifElse, parameter, type Ref, switchOn, task, when } from "../../src/index.ts";

const kind = task("kind", (n: number) => (n > 0 ? ("pos" as const) : ("neg" as const)));
const isBig = task("is-big", (n: number) => n > 10);
const shout = task("shout", (s: string) => s.toUpperCase());
const double = task("double", (n: number) => n * 2);

const typed = flow(`branching-types-${randomUUID()}`, () => {
  const n = parameter("n", 1);
  const k = kind(n);
  const cases = switchOn(k, { pos: () => shout("p"), neg: () => double(n) });
  expectTypeOf(cases).toEqualTypeOf<{ pos: Ref<string>; neg: Ref<number> }>();
  const [a, b] = ifElse(
    isBig(n),
    () => shout("big"),
    () => double(n),
  );
  expectTypeOf(a).toEqualTypeOf<Ref<string>>();
  expectTypeOf(b).toEqualTypeOf<Ref<number>>();
  // A mapped reference branches per child: the value is one child's.
  const flags = isBig.map([1, 20]);
  const mapped = when(flags, true, () => double.map([1, 20]));
  expectTypeOf(mapped).toEqualTypeOf<Ref<number[]>>();
  const perChild = switchOn(kind.map([1, -1]), { pos: () => double.map([1, 2]) });
  expectTypeOf(perChild).toEqualTypeOf<{ pos: Ref<number[]> }>();
  const byNumber = switchOn(double(n), { 2: () => shout("two") });
  expectTypeOf(byNumber).toEqualTypeOf<{ 2: Ref<string> }>();

  // Never called: these lines only have to fail to type-check.
  const typeErrors = () => {
    // @ts-expect-error "zero" is not a value of kind()
    switchOn(k, { pos: () => shout("p"), zero: () => shout("z") });
    // @ts-expect-error a string is not a value of isBig()
    when(isBig(n), "yes", () => shout("y"));
  };
  void typeErrors;
  return cases;
});

test("the typed branching flow builds", () => {
  assert.equal(typed.graph.nodes.filter((node) => node.task.kind === "condition").length, 7);
});
