// Flow runs: creation with parameter validation and idempotency keys, listing,
// versioned state writes (stale refused, a repeated write accepted), cancel,
// heartbeats.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { expectCode } from "../../support/expect-code.ts";
import { forEachDialect } from "../dialects.ts";
import { serializedFlow, st } from "./store-fixtures.ts";

forEachDialect("flow runs", (ctx) => {
  test("a run is created Scheduled with defaults filled in, by flow id or name", async () => {
    const store = await ctx.open();
    const flow = serializedFlow({ labels: ["b", "a"] });
    const { flow: f } = await store.flows.register(flow);
    const { run, created } = await store.runs.create({ flowName: flow.name, labels: ["c", "a"] });
    assert.equal(created, true);
    assert.equal(run.flowId, f.id);
    assert.equal(run.flowName, flow.name);
    assert.equal(run.flowVersion, 1);
    assert.equal(run.state.type, "Scheduled");
    assert.equal(run.version, 1);
    assert.deepEqual(run.parameters, { x: 1 });
    assert.deepEqual(run.labels, ["a", "b", "c"]);
    assert.equal(run.autoScheduled, false);
    assert.equal(run.claimCount, 0);
    assert.ok(Date.parse(run.scheduledStart) <= Date.now());
    const detail = await store.runs.getDetail(run.id);
    assert.deepEqual(
      detail.history.map((s) => s.type),
      ["Scheduled"],
    );
    assert.deepEqual(detail.taskRuns, []);
    const later = new Date(Date.now() + 60_000).toISOString();
    const byId = await store.runs.create({
      flowId: f.id,
      parameters: { x: 5 },
      scheduledStart: later,
    });
    assert.deepEqual(byId.run.parameters, { x: 5 });
    assert.equal(byId.run.scheduledStart, later);
  });

  test("parameters are validated against the flow's", async () => {
    const store = await ctx.open();
    const flow = serializedFlow({
      parameters: [
        { name: "day", required: true, type: "string", validated: false },
        { name: "n", default: 1, required: false, type: "integer", validated: false },
      ],
    });
    await store.flows.register(flow);
    const bad = await expectCode(
      () => store.runs.create({ flowName: flow.name, parameters: { day: "d", n: "two" } }),
      "INVALID_PARAMETER",
      "wrong type",
    );
    assert.match(bad.message, /"n"/);
    await expectCode(
      () => store.runs.create({ flowName: flow.name, parameters: {} }),
      "MISSING_PARAMETER",
      "missing required",
    );
    await expectCode(
      () => store.runs.create({ flowName: flow.name, parameters: { day: "d", nope: 1 } }),
      "UNKNOWN_PARAMETER",
      "unknown name",
    );
    const ok = await store.runs.create({ flowName: flow.name, parameters: { day: "d" } });
    assert.deepEqual(ok.run.parameters, { day: "d", n: 1 });
    await expectCode(
      () => store.runs.create({ flowName: `nope-${randomUUID()}` }),
      "FLOW_NOT_FOUND",
      "unknown flow",
    );
  });

  test("an idempotency key returns the first run; other parameters with it conflict", async () => {
    const store = await ctx.open();
    const flow = serializedFlow();
    await store.flows.register(flow);
    const key = randomUUID();
    const first = await store.runs.create({
      flowName: flow.name,
      idempotencyKey: key,
      parameters: { x: 2 },
    });
    const again = await store.runs.create({
      flowName: flow.name,
      idempotencyKey: key,
      parameters: { x: 2 },
    });
    assert.equal(again.created, false);
    assert.equal(again.run.id, first.run.id);
    await expectCode(
      () => store.runs.create({ flowName: flow.name, idempotencyKey: key, parameters: { x: 3 } }),
      "IDEMPOTENCY_CONFLICT",
      "same key, other parameters",
    );
    // Concurrent creates with one key make one run.
    const key2 = randomUUID();
    const other = await ctx.open();
    const many = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        (i % 2 ? store : other).runs.create({ flowName: flow.name, idempotencyKey: key2 }),
      ),
    );
    assert.equal(new Set(many.map((m) => m.run.id)).size, 1);
    assert.equal(many.filter((m) => m.created).length, 1);
  });

  test("state writes are versioned: stale refused naming both versions, a repeated write accepted", async () => {
    const store = await ctx.open();
    const flow = serializedFlow();
    await store.flows.register(flow);
    const { run } = await store.runs.create({ flowName: flow.name });
    const running = st("Running");
    const r2 = await store.runs.setState(run.id, running, 1);
    assert.equal(r2.version, 2);
    assert.equal(r2.state.type, "Running");
    assert.ok(r2.startTime);
    // The same write again (a retry after a lost answer): accepted, no new version.
    const again = await store.runs.setState(run.id, { ...running }, 1);
    assert.equal(again.version, 2);
    // Another write with the old version: stale.
    const stale = await expectCode(
      () => store.runs.setState(run.id, st("Failed"), 1),
      "STALE_VERSION",
      "old version",
    );
    assert.match(stale.message, new RegExp(run.id));
    assert.match(stale.message, /version 1/);
    assert.match(stale.message, /version 2/);
    await expectCode(
      () => store.runs.setState(run.id, st("Success"), 7),
      "STALE_VERSION",
      "future",
    );
    const done = await store.runs.setState(run.id, st("Success"), 2);
    assert.equal(done.version, 3);
    assert.ok(done.endTime);
    await expectCode(
      () => store.runs.setState(run.id, st("Running"), 3),
      "INVALID_TRANSITION",
      "Running after Success",
    );
    const detail = await store.runs.getDetail(run.id);
    assert.deepEqual(
      detail.history.map((s) => s.type),
      ["Scheduled", "Running", "Success"],
    );
    await expectCode(
      () => store.runs.setState(randomUUID(), st("Running"), 1),
      "FLOW_RUN_NOT_FOUND",
      "unknown run",
    );
  });

  test("cancel: Scheduled → Cancelled, Running → Cancelling, finished refused", async () => {
    const store = await ctx.open();
    const flow = serializedFlow();
    await store.flows.register(flow);
    const a = await store.runs.create({ flowName: flow.name });
    assert.equal((await store.runs.cancel(a.run.id)).state.type, "Cancelled");
    await expectCode(() => store.runs.cancel(a.run.id), "INVALID_TRANSITION", "cancel twice");
    const b = await store.runs.create({ flowName: flow.name });
    await store.runs.setState(b.run.id, st("Running"), 1);
    const cancelling = await store.runs.cancel(b.run.id);
    assert.equal(cancelling.state.type, "Cancelling");
    assert.equal((await store.runs.cancel(b.run.id)).version, cancelling.version);
    assert.equal(
      (await store.runs.setState(b.run.id, st("Cancelled"), cancelling.version)).state.type,
      "Cancelled",
    );
  });

  test("a heartbeat is recorded without a new version", async () => {
    const store = await ctx.open();
    const flow = serializedFlow();
    await store.flows.register(flow);
    const { run } = await store.runs.create({ flowName: flow.name });
    const beat = await store.runs.heartbeat(run.id);
    assert.ok(beat.heartbeatAt);
    assert.equal(beat.version, run.version);
    await expectCode(() => store.runs.heartbeat(randomUUID()), "FLOW_RUN_NOT_FOUND", "unknown run");
  });

  test("listing: newest scheduled start first, paged, filtered by flow, state (with its children) and agent", async () => {
    const store = await ctx.open();
    const flow = serializedFlow();
    const { flow: f } = await store.flows.register(flow);
    const base = Date.parse("2030-01-01T00:00:00.000Z");
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const { run } = await store.runs.create({
        flowId: f.id,
        scheduledStart: new Date(base + (i % 3) * 1000).toISOString(),
      });
      ids.push(run.id);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.runs.list({ flowId: f.id, limit: 3, cursor });
      seen.push(...page.items.map((r) => r.id));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    assert.equal(seen.length, 7);
    assert.deepEqual([...seen].sort(), [...ids].sort());
    const all = await store.runs.list({ flowId: f.id, limit: 50 });
    const starts = all.items.map((r) => r.scheduledStart);
    assert.deepEqual(starts, [...starts].sort().reverse());
    await store.runs.setState(ids[0]!, st("Running"), 1);
    await store.runs.setState(ids[0]!, st("TimedOut"), 2);
    const failed = await store.runs.list({ flowName: flow.name, state: "Failed", limit: 50 });
    assert.deepEqual(
      failed.items.map((r) => r.id),
      [ids[0]],
    );
    await expectCode(
      () => store.runs.list({ state: "Nope", limit: 5 }),
      "INVALID_REQUEST",
      "unknown state filter",
    );
  });
});
