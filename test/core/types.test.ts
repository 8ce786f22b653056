// Type-level tests of the flow builder, checked by `tsc --noEmit` (the runtime
// assertions only make sure the file's flows really build).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { expectTypeOf } from "expect-type";
import {
  context,
  type Flow,
  type FlowRun,
  flow,
  merge,
  parameter,
  type Ref,
  type State,
  type StateType,
  type Task,
  type TaskContext,
  task,
  unmapped,
  when,
} from "../../src/index.ts";

const add = task("add", (a: number, b: number) => a + b, { retries: 2, retryDelay: 100 });
const inc = task(function inc(x: number) {
  return x + 1;
});
const fetchText = task("fetch-text", async (url: string) => url.length);
const sum = task("sum", (xs: number[]) => xs.reduce((a, b) => a + b, 0));
const shout = task("shout", (s: string) => s.toUpperCase());

const typed = flow(`types-${randomUUID()}`, () => {
  const x = parameter("x", 1);
  expectTypeOf(x).toEqualTypeOf<Ref<number>>();
  const label = parameter<string>("label");
  expectTypeOf(label).toEqualTypeOf<Ref<string>>();

  const y = add(x, 2);
  expectTypeOf(y).toEqualTypeOf<Ref<number>>();
  const len = fetchText("https://example.com");
  expectTypeOf(len).toEqualTypeOf<Ref<number>>(); // the promise is unwrapped

  const ys = inc.map([1, 2, 3]);
  expectTypeOf(ys).toEqualTypeOf<Ref<number[]>>();
  const z = add.map(ys, unmapped(y));
  expectTypeOf(z).toEqualTypeOf<Ref<number[]>>();
  const zz = add.map([x, 2], [3, y]);
  expectTypeOf(zz).toEqualTypeOf<Ref<number[]>>();

  const total = sum(z); // reduce: a mapped ref is the whole array
  expectTypeOf(total).toEqualTypeOf<Ref<number>>();
  const listed = sum([y, 3, total]);
  expectTypeOf(listed).toEqualTypeOf<Ref<number>>();

  const big = when(y, 7, () => shout(label));
  expectTypeOf(big).toEqualTypeOf<Ref<string>>();
  const either = merge(y, total);
  expectTypeOf(either).toEqualTypeOf<Ref<number>>();
  const mixed = merge(y, big);
  expectTypeOf(mixed).toEqualTypeOf<Ref<number | string>>();

  expectTypeOf(total.after(y, z)).toEqualTypeOf<Ref<number>>();

  // Never called: these lines only have to fail to type-check.
  const typeErrors = () => {
    // @ts-expect-error a string is not a number
    add("1", 2);
    // @ts-expect-error a Ref<string> is not a number
    add(label, 2);
    // @ts-expect-error too few arguments
    add(1);
    // @ts-expect-error a mapped argument must be an array, a ref to an array or unmapped()
    add.map(1, [2]);
    // @ts-expect-error the array holds strings, add takes numbers
    add.map(["a"], [1]);
    // unmapped() of an array holding refs is an Unmapped<number[]>.
    sum.map(unmapped([y, 3]));
    // @ts-expect-error sum takes an array, not a number
    sum(y);
  };
  void typeErrors;

  return { y, z, total, len, big, mixed };
});

test("the typed flow builds", () => {
  assert.deepEqual(
    typed.graph.nodes.map((n) => n.slug),
    [
      "x",
      "label",
      "add-1",
      "fetch-text-1",
      "inc-1",
      "add-2",
      "add-3",
      "sum-1",
      "sum-2",
      "when-1",
      "shout-1",
      "merge-1",
      "merge-2",
    ],
  );
});

test("types of tasks, runs and options", () => {
  expectTypeOf(add).toEqualTypeOf<Task<[a: number, b: number], number>>();
  expectTypeOf(add.fn).toEqualTypeOf<(a: number, b: number) => number>();
  expectTypeOf(fetchText.fn).returns.toEqualTypeOf<Promise<number>>();
  expectTypeOf(typed).toEqualTypeOf<
    Flow<{
      y: Ref<number>;
      z: Ref<number[]>;
      total: Ref<number>;
      len: Ref<number>;
      big: Ref<string>;
      mixed: Ref<string | number>;
    }>
  >();
  type Out = typeof typed extends Flow<infer O> ? O : never;
  expectTypeOf<ReturnType<typeof typed.run>>().toEqualTypeOf<Promise<FlowRun<Out>>>();
  expectTypeOf<FlowRun<Out>["outputs"]>().toEqualTypeOf<{
    y: number;
    z: number[];
    total: number;
    len: number;
    big: string;
    mixed: string | number;
  }>();
  const result = (run: FlowRun<Out>) => run.result(typed.outputs.z);
  expectTypeOf(result).returns.toEqualTypeOf<number[]>();
  expectTypeOf<FlowRun["taskStates"]>().toEqualTypeOf<ReadonlyMap<string, State>>();
  expectTypeOf<State["type"]>().toEqualTypeOf<StateType>();
  expectTypeOf<"Success">().toExtend<StateType>();
  expectTypeOf<"Bogus">().not.toExtend<StateType>();

  expectTypeOf(context).returns.toEqualTypeOf<TaskContext>();
  expectTypeOf<TaskContext["mapIndex"]>().toEqualTypeOf<number | undefined>();
  expectTypeOf<TaskContext["attempt"]>().toEqualTypeOf<number>();
  expectTypeOf<TaskContext["signal"]>().toEqualTypeOf<AbortSignal>();

  // cacheKey is typed by the task's arguments.
  task("keyed", (a: number, b: string) => `${a}${b}`, {
    cacheFor: 1_000,
    cacheKey: (a, b) => {
      expectTypeOf(a).toEqualTypeOf<number>();
      expectTypeOf(b).toEqualTypeOf<string>();
      return b;
    },
  });
  const typeErrors = () => {
    // @ts-expect-error an unknown trigger
    task("t1", () => 1, { trigger: "sometimes" });
    // @ts-expect-error retries is a number
    task("t2", () => 1, { retries: "2" });
    // @ts-expect-error retryDelay as a function takes the attempt number
    task("t3", () => 1, { retryDelay: (attempt: string) => attempt.length });
    // @ts-expect-error unknown option
    task("t4", () => 1, { retry: 2 });
    // @ts-expect-error the executor is one of three kinds
    void typed.run({ executor: "processes" });
  };
  void typeErrors;
  assert.equal(add.options.retries, 2);
});
