// The scheduler: the next K runs of every scheduled flow exist, idempotently by
// (version group, scheduled time) across instances and restarts; cron in a time
// zone across a DST change, intervals and explicit dates.
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { ServerDb } from "../../../src/server/db/server-db.ts";
import { createScheduler } from "../../../src/server/loops/scheduler.ts";
import { cronSchedule, serializedFlow } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { manualClock, recordingLogger } from "./loop-fixtures.ts";

async function starts(store: ServerDb, flowName: string): Promise<string[]> {
  const page = await store.runs.list({ flowName, limit: 500 });
  return page.items.map((r) => r.scheduledStart).sort();
}

forEachDialect("scheduler", (ctx) => {
  test("two schedulers, at once and after a restart, keep exactly the next K runs", async () => {
    const [a, b] = [await ctx.open(), await ctx.open()];
    const flow = serializedFlow({
      schedule: {
        schemaVersion: 1,
        type: "interval",
        every: 60_000,
        start: "2030-01-01T00:00:00.000Z",
      },
    });
    await a.flows.register(flow);
    const clock = manualClock("2030-01-01T00:00:30.000Z");
    const logger = recordingLogger();
    const one = createScheduler({ db: a, logger, now: clock.now, horizon: 5 });
    const two = createScheduler({ db: b, logger, now: clock.now, horizon: 5 });
    await Promise.all([one.tick(), two.tick(), one.tick()]);
    const expected = [1, 2, 3, 4, 5].map((m) =>
      new Date(Date.parse("2030-01-01T00:00:00.000Z") + m * 60_000).toISOString(),
    );
    assert.deepEqual(await starts(a, flow.name), expected);
    // A restart: a new scheduler on a new store finds nothing to add.
    const c = await ctx.open();
    await createScheduler({ db: c, logger, now: clock.now, horizon: 5 }).tick();
    assert.deepEqual(await starts(a, flow.name), expected);
    // Time passes: the runs before now stay, and the next five exist again.
    clock.advance(150_000);
    await two.tick();
    const after = await starts(a, flow.name);
    // Now 00:03:00: 00:01–00:03 stay, 00:04–00:08 are the next five.
    assert.equal(after.length, 8);
    assert.equal(after.at(-1), "2030-01-01T00:08:00.000Z");
    const runs = await a.runs.list({ flowName: flow.name, limit: 50 });
    assert.ok(runs.items.every((r) => r.autoScheduled && r.state.type === "Scheduled"));
    assert.ok(logger.lines.some((l) => l.level === "info" && l.message.includes(flow.name)));
  });

  test("cron in Europe/Berlin across the change to summer time", async () => {
    const store = await ctx.open();
    const clock = manualClock("2026-03-27T12:00:00.000Z");
    const nine = serializedFlow({ schedule: cronSchedule("0 9 * * *", "Europe/Berlin") });
    const twoThirty = serializedFlow({ schedule: cronSchedule("30 2 * * *", "Europe/Berlin") });
    await store.flows.register(nine);
    await store.flows.register(twoThirty);
    await createScheduler({
      db: store,
      logger: recordingLogger(),
      now: clock.now,
      horizon: 4,
    }).tick();
    // 09:00 local is 08:00 UTC in winter time and 07:00 UTC from 29 March on.
    assert.deepEqual(await starts(store, nine.name), [
      "2026-03-28T08:00:00.000Z",
      "2026-03-29T07:00:00.000Z",
      "2026-03-30T07:00:00.000Z",
      "2026-03-31T07:00:00.000Z",
    ]);
    // 02:30 does not exist on 29 March (02:00 → 03:00): one run that day, not none, not two.
    const times = await starts(store, twoThirty.name);
    assert.equal(times.length, 4);
    const onTheDay = times.filter(
      (t) => t >= "2026-03-28T23:00:00.000Z" && t < "2026-03-29T22:00:00.000Z",
    );
    assert.equal(onTheDay.length, 1, `runs on 29 March: ${onTheDay}`);
    assert.equal(times[2], "2026-03-30T00:30:00.000Z");
  });

  test("explicit dates: only those still ahead are made, and nothing once all have passed", async () => {
    const store = await ctx.open();
    const flow = serializedFlow({
      schedule: {
        schemaVersion: 1,
        type: "dates",
        dates: ["2030-05-01T10:00:00.000Z", "2030-06-01T10:00:00.000Z", "2029-01-01T00:00:00.000Z"],
      },
    });
    await store.flows.register(flow);
    const clock = manualClock("2030-01-01T00:00:00.000Z");
    const scheduler = createScheduler({ db: store, logger: recordingLogger(), now: clock.now });
    await scheduler.tick();
    assert.deepEqual(await starts(store, flow.name), [
      "2030-05-01T10:00:00.000Z",
      "2030-06-01T10:00:00.000Z",
    ]);
    clock.advance(365 * 86_400_000);
    await scheduler.tick();
    assert.equal((await starts(store, flow.name)).length, 2);
  });

  test("a new version takes over the waiting runs; a flow that cannot be scheduled does not stop the others", async () => {
    const store = await ctx.open();
    const clock = manualClock("2031-01-01T00:00:00.000Z");
    const logger = recordingLogger();
    const scheduler = createScheduler({ db: store, logger, now: clock.now, horizon: 3 });
    const v1 = serializedFlow({ schedule: cronSchedule("0 * * * *") });
    const broken = serializedFlow({
      schedule: cronSchedule("0 * * * *"),
      parameters: [{ name: "day", required: true, type: "string", validated: false }],
    });
    await store.flows.register(broken);
    const r1 = await store.flows.register(v1);
    await scheduler.tick();
    const before = await store.runs.list({ flowName: v1.name, limit: 50 });
    assert.ok(before.items.every((r) => r.flowId === r1.flow.id));
    assert.equal(before.items.length, 3);
    assert.ok(logger.lines.some((l) => l.level === "warn" && l.message.includes(broken.name)));
    const r2 = await store.flows.register({ ...v1, labels: ["v2"] });
    await scheduler.tick();
    const after = await store.runs.list({ flowName: v1.name, limit: 50 });
    assert.equal(after.items.length, 3);
    assert.ok(after.items.every((r) => r.flowId === r2.flow.id && r.flowVersion === 2));
    assert.deepEqual(
      after.items.map((r) => r.scheduledStart).sort(),
      before.items.map((r) => r.scheduledStart).sort(),
    );
  });

  test("start() ticks on its own and stop() ends it", async () => {
    const store = await ctx.open();
    const flow = serializedFlow({ schedule: cronSchedule("*/5 * * * *") });
    await store.flows.register(flow);
    const scheduler = createScheduler({
      db: store,
      logger: recordingLogger(),
      intervalMs: 20,
      horizon: 2,
    });
    scheduler.start();
    for (let i = 0; i < 100 && (await starts(store, flow.name)).length < 2; i++) await sleep(20);
    await scheduler.stop();
    assert.equal((await starts(store, flow.name)).length, 2);
  });
});
