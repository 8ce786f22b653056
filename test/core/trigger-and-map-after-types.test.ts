// Types and graph shape of trigger functions and `task.mapAfter()`, checked by
// `tsc --noEmit`; the runtime assertions check the graph the builder made.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { expectTypeOf } from "expect-type";
import {
  flow,
  type Ref,
  someFailed,
  someSuccessful,
  type Trigger,
  type TriggerFunction,
  task,
  type UpstreamSummary,
  unmapped,
} from "../../src/index.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

test("trigger functions and someFailed/someSuccessful fit the trigger option", () => {
  expectTypeOf(someFailed({ atLeast: 1 })).toEqualTypeOf<TriggerFunction>();
  expectTypeOf<TriggerFunction>().toExtend<Trigger>();
  expectTypeOf<"not_all_skipped">().toExtend<Trigger>();
  const t = task("t", (x: number) => x, {
    trigger: (up) => {
      expectTypeOf(up).toEqualTypeOf<UpstreamSummary>();
      return up.failed === 0;
    },
  });
  task("u", () => 1, { trigger: someSuccessful({ atLeast: 0.5, atMost: 3 }) });
  // @ts-expect-error a trigger answers a boolean
  task("v", () => 1, { trigger: (_up: UpstreamSummary) => "yes" });
  assert.throws(
    // @ts-expect-error bounds are numbers
    () => someFailed({ atLeast: "1" }),
    /atLeast must be a number/,
  );
  assert.equal(typeof t.options.trigger, "function");
});

test("mapAfter: no dummy parameter; the result is one item per child", () => {
  const ping = task("ping", () => "pong");
  const load = task("load", (x: number) => x);
  const notify = task("notify", (channel: string, n: number) => `${channel}${n}`);
  const f = flow(unique("types-map-after"), () => {
    const loaded = load.map([1, 2]);
    const pinged = ping.mapAfter(loaded);
    expectTypeOf(pinged).toEqualTypeOf<Ref<string[]>>();
    const notified = notify.mapAfter(loaded, unmapped("#c"), [1, 2]);
    expectTypeOf(notified).toEqualTypeOf<Ref<string[]>>();
    // @ts-expect-error the other arguments keep their types
    notify.mapAfter(loaded, unmapped(1), [1, 2]);
    return { pinged, notified };
  });
  const g = f.build();
  const ping1 = g.node("ping-1");
  assert.equal(ping1.mapped, true);
  assert.deepEqual(ping1.args, []);
  assert.deepEqual(ping1.upstream, [g.node("load-1").index]);
  assert.deepEqual(ping1.afterEdges, [g.node("load-1").index]);
  assert.deepEqual(
    [...g.edges()].filter((e) => e.downstream === "notify-1"),
    [{ upstream: "load-1", downstream: "notify-1", key: "after", mapped: true }],
  );
});
