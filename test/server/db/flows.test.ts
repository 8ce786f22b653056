// Registering flows: idempotent by content hash, new content → next version and
// the older ones archived, old content again → rolls back; listing and lookups.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { flowContentHash } from "../../../src/server/db/content-hash.ts";
import { expectCode } from "../../support/expect-code.ts";
import { forEachDialect } from "../dialects.ts";
import { cronSchedule, serializedFlow } from "./store-fixtures.ts";

test("the content hash ignores key order and the description, and sees every structural field", () => {
  const a = serializedFlow();
  const reverse = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(reverse)
      : v !== null && typeof v === "object"
        ? Object.fromEntries(
            Object.entries(v)
              .reverse()
              .map(([k, x]) => [k, reverse(x)]),
          )
        : v;
  const reordered = reverse(a) as typeof a;
  assert.notEqual(JSON.stringify(reordered), JSON.stringify(a));
  assert.equal(flowContentHash(reordered), flowContentHash(a));
  assert.equal(flowContentHash({ ...a, description: "words" }), flowContentHash(a));
  for (const change of [
    { labels: ["gpu"] },
    { location: "flows/x.mjs" },
    { schedule: cronSchedule("0 * * * *") },
    { storage: { type: "local", schemaVersion: 1, directory: "/a" } },
    { environment: { type: "subprocess", schemaVersion: 1 } },
    { referenceTasks: ["x"] },
    { edges: [] },
  ]) {
    assert.notEqual(
      flowContentHash({ ...a, ...change }),
      flowContentHash(a),
      JSON.stringify(change),
    );
  }
});

forEachDialect("flows", (ctx) => {
  test("registering the same content twice returns the same version", async () => {
    const store = await ctx.open();
    const flow = serializedFlow();
    const first = await store.flows.register(flow);
    assert.equal(first.created, true);
    assert.equal(first.flow.version, 1);
    assert.equal(first.flow.versionGroup, flow.name);
    const again = await store.flows.register(JSON.parse(JSON.stringify(flow)));
    assert.equal(again.created, false);
    assert.equal(again.flow.id, first.flow.id);
    assert.deepEqual(again.flow, first.flow);
  });

  test("new content is the next version and archives the older; old content again rolls back", async () => {
    const store = await ctx.open();
    const v1 = serializedFlow();
    const v2 = { ...v1, labels: ["new"] };
    const r1 = await store.flows.register(v1);
    const r2 = await store.flows.register(v2);
    assert.equal(r2.created, true);
    assert.equal(r2.flow.version, 2);
    assert.equal((await store.flows.get(r1.flow.id)).archived, true);
    assert.equal((await store.flows.latest(v1.name)).id, r2.flow.id);

    const back = await store.flows.register(v1);
    assert.equal(back.created, false);
    assert.equal(back.flow.id, r1.flow.id);
    assert.equal(back.flow.archived, false);
    assert.equal((await store.flows.get(r2.flow.id)).archived, true);
    assert.equal((await store.flows.latest(v1.name)).id, r1.flow.id);
  });

  test("registering archives the scheduler's waiting runs of other versions, not users' runs", async () => {
    const store = await ctx.open();
    const v1 = serializedFlow({ schedule: cronSchedule("0 * * * *") });
    const r1 = await store.flows.register(v1);
    const times = [new Date(Date.now() + 3_600_000), new Date(Date.now() + 7_200_000)];
    assert.equal(await store.runs.createScheduled(r1.flow.id, times), 2);
    const mine = await store.runs.create({ flowId: r1.flow.id });
    await store.flows.register({ ...v1, labels: ["v2"] });
    const left = await store.runs.list({ flowId: r1.flow.id, limit: 50 });
    assert.deepEqual(
      left.items.map((r) => r.id),
      [mine.run.id],
    );
  });

  test("concurrent registrations of new content make one version", async () => {
    const [a, b] = [await ctx.open(), await ctx.open()];
    const flow = serializedFlow();
    await a.flows.register(flow);
    const next = { ...flow, labels: ["next"] };
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).flows.register(next)),
    );
    assert.equal(new Set(results.map((r) => r.flow.id)).size, 1);
    assert.equal(results.filter((r) => r.created).length, 1);
    assert.equal(results[0]?.flow.version, 2);
  });

  test("a version group other than the name keeps its own versions", async () => {
    const store = await ctx.open();
    const flow = serializedFlow();
    const group = `group-${randomUUID()}`;
    const a = await store.flows.register(flow, group);
    const b = await store.flows.register(flow);
    assert.notEqual(a.flow.id, b.flow.id);
    assert.equal(a.flow.versionGroup, group);
    assert.equal(b.flow.version, 1);
  });

  test("an invalid cron expression is refused at registration", async () => {
    const store = await ctx.open();
    const error = await expectCode(
      () => store.flows.register(serializedFlow({ schedule: cronSchedule("61 * * * *") })),
      "INVALID_SCHEDULE",
      "cron minute 61",
    );
    assert.match(error.message, /61/);
  });

  test("lookups: unknown id or name is FLOW_NOT_FOUND; lists page and filter", async () => {
    const store = await ctx.open();
    await expectCode(() => store.flows.get(randomUUID()), "FLOW_NOT_FOUND", "unknown id");
    await expectCode(
      () => store.flows.latest(`nope-${randomUUID()}`),
      "FLOW_NOT_FOUND",
      "unknown name",
    );
    const name = `listed-${randomUUID()}`;
    for (let i = 0; i < 5; i++)
      await store.flows.register(serializedFlow({ name, labels: [`l${i}`] }));
    const seen: number[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.flows.list({ name, archived: "all", limit: 2, cursor });
      seen.push(...page.items.map((f) => f.version));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    assert.deepEqual(seen, [5, 4, 3, 2, 1]);
    const active = await store.flows.list({ name, archived: "false", limit: 50 });
    assert.deepEqual(
      active.items.map((f) => f.version),
      [5],
    );
    const archived = await store.flows.list({ name, archived: "true", limit: 50 });
    assert.equal(archived.items.length, 4);
    await expectCode(
      () => store.flows.list({ archived: "all", limit: 2, cursor: "garbage" }),
      "INVALID_REQUEST",
      "bad cursor",
    );
  });

  test("scheduledFlows lists unarchived versions with a schedule", async () => {
    const store = await ctx.open();
    const flow = serializedFlow({ schedule: cronSchedule("*/5 * * * *") });
    const v1 = await store.flows.register(flow);
    const v2 = await store.flows.register({ ...flow, labels: ["b"] });
    const plain = await store.flows.register(serializedFlow());
    const ids = (await store.flows.scheduled()).map((f) => f.id);
    assert.ok(ids.includes(v2.flow.id));
    assert.ok(!ids.includes(v1.flow.id));
    assert.ok(!ids.includes(plain.flow.id));
  });
});
