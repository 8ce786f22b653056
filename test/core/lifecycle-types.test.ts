// Type-level tests of state handlers, loops and signals, checked by `tsc --noEmit`
// (the runtime assertion only makes sure the definitions are accepted).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { expectTypeOf } from "expect-type";
import {
  context,
  flow,
  Loop,
  type LoopContext,
  notify,
  State,
  type StateHandler,
  type StateSubject,
  task,
} from "../../src/index.ts";

test("state handlers, loops and signals type as documented", () => {
  // A block body that returns nothing, a replacement, and an async handler are all handlers.
  const log: StateHandler = (subject, oldState, newState) => {
    expectTypeOf(subject).toEqualTypeOf<StateSubject>();
    expectTypeOf(oldState).toEqualTypeOf<State>();
    expectTypeOf(subject.mapIndex).toEqualTypeOf<number | undefined>();
    void newState;
  };
  const replace: StateHandler = (_s, _o, next) =>
    next.isFailed() ? new State("Skipped", "optional") : undefined;
  const later: StateHandler = async () => {
    await Promise.resolve();
  };
  // @ts-expect-error a handler answers a State or nothing
  const wrong: StateHandler = () => 42;
  void wrong;
  const t = task(
    "t",
    (n: number) => {
      const loop = context().loop;
      expectTypeOf(loop).toEqualTypeOf<LoopContext>();
      expectTypeOf(loop.result).toBeUnknown();
      expectTypeOf(context().approved).toBeBoolean();
      if (loop.count < n) throw new Loop({ result: loop.count });
      return loop.count;
    },
    { onStateChange: [log, replace, later, notify.slack("env:SLACK_WEBHOOK_URL")], maxLoops: 10 },
  );
  const f = flow(`lifecycle-types-${randomUUID()}`, () => t(3), { onStateChange: [log] });
  assert.equal(f.graph.nodes.length, 1);
});
