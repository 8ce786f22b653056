// Concurrency limits by tag at the database: many acquirers racing (several
// ServerDb objects on one database, as server replicas) never hold more than
// `limit` slots of a tag; several tags are taken all or none; a task run's final
// state, its run's final state and run health's recovery free its slots.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import type { ServerDb } from "../../../src/server/db/server-db.ts";
import { expectCode } from "../../support/expect-code.ts";
import { forEachDialect } from "../dialects.ts";
import { serializedFlow, st } from "./store-fixtures.ts";

/** `count` runs of one flow, each moved to Running. */
async function runningRuns(db: ServerDb, count: number): Promise<string[]> {
  const flow = serializedFlow();
  await db.flows.register(flow);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const { run } = await db.runs.create({ flowName: flow.name });
    await db.runs.setState(run.id, st("Running"), run.version);
    ids.push(run.id);
  }
  return ids;
}

const tagName = () => `tag-${randomUUID().slice(0, 8)}`;

forEachDialect("concurrency limits", (ctx) => {
  test("set, list and delete a limit; an unknown one is LIMIT_NOT_FOUND", async () => {
    const db = await ctx.open();
    const tag = tagName();
    const set = await db.limits.set(tag, 2);
    assert.equal(set.tag, tag);
    assert.equal(set.limit, 2);
    assert.equal(set.active, 0);
    assert.equal((await db.limits.set(tag, 3)).limit, 3, "setting again changes it");
    assert.ok((await db.limits.list()).some((l) => l.tag === tag && l.limit === 3));
    assert.equal((await db.limits.delete(tag)).tag, tag);
    assert.ok(!(await db.limits.list()).some((l) => l.tag === tag));
    await expectCode(() => db.limits.delete(tag), "LIMIT_NOT_FOUND", "deleted twice");
    await expectCode(() => db.limits.get(tag), "LIMIT_NOT_FOUND", "get after delete");
  });

  test("many concurrent acquirers across database objects never hold more than the limit", async () => {
    const dbs = await Promise.all([ctx.open(), ctx.open(), ctx.open()]);
    const db = dbs[0]!;
    const tag = tagName();
    const limit = 3;
    await db.limits.set(tag, limit);
    const [runId] = await runningRuns(db, 1);
    const tasks = Array.from({ length: 24 }, (_, i) => ({ slug: `t-${i}`, mapIndex: i }));
    const held = new Set<string>();
    let most = 0;
    let done = 0;
    // Each task asks until it gets a slot, holds it a moment, counts, releases.
    await Promise.all(
      tasks.map(async (t, i) => {
        const mine = dbs[i % dbs.length]!;
        for (;;) {
          const answer = await mine.limits.acquire(runId!, { slug: t.slug, tags: [tag] });
          if (answer.acquired) break;
          assert.deepEqual(answer.waitingFor, {
            tag,
            limit,
            active: answer.waitingFor!.active,
          });
          await new Promise((r) => setTimeout(r, 2 + (i % 5)));
        }
        held.add(t.slug);
        most = Math.max(most, held.size);
        const active = (await mine.limits.get(tag)).active;
        assert.ok(active <= limit, `${active} holders of a limit of ${limit}`);
        // Hold the slot until the limit is full (or too few tasks are left to
        // fill it), so the test sees the limit used however slow the machine.
        while (held.size < Math.min(limit, tasks.length - done)) {
          await new Promise((r) => setTimeout(r, 2));
          most = Math.max(most, held.size);
        }
        held.delete(t.slug);
        assert.equal(await mine.limits.release(runId!, t.slug, undefined), 1);
        done++;
      }),
    );
    assert.equal(done, tasks.length);
    assert.ok(most <= limit, `at most ${limit} held at once, saw ${most}`);
    assert.equal(most, limit, `the limit was used to the full (saw ${most} at once)`);
    assert.equal((await db.limits.get(tag)).active, 0);
  });

  test("racing first acquisitions: exactly `limit` win, across database objects", async () => {
    const dbs = await Promise.all([ctx.open(), ctx.open(), ctx.open(), ctx.open()]);
    const tag = tagName();
    await dbs[0]!.limits.set(tag, 2);
    const [runId] = await runningRuns(dbs[0]!, 1);
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) =>
        dbs[i % dbs.length]!.limits.acquire(runId!, { slug: `t-${i}`, tags: [tag] }),
      ),
    );
    assert.equal(answers.filter((a) => a.acquired).length, 2);
    const record = await dbs[0]!.limits.get(tag);
    assert.equal(record.active, 2);
    assert.equal(record.holders.length, 2);
  });

  test("several tags are taken all or none; tags without a limit need no slot; a repeat keeps its slot", async () => {
    const db = await ctx.open();
    const [a, b] = [tagName(), tagName()];
    await db.limits.set(a, 2);
    await db.limits.set(b, 1);
    const [runId] = await runningRuns(db, 1);
    assert.deepEqual(await db.limits.acquire(runId!, { slug: "x", tags: [a, b, "free"] }), {
      acquired: true,
    });
    assert.deepEqual(
      await db.limits.acquire(runId!, { slug: "x", tags: [a, b] }),
      { acquired: true },
      "the same task run asking again keeps what it holds",
    );
    const refused = await db.limits.acquire(runId!, { slug: "y", tags: [a, b] });
    assert.deepEqual(refused, { acquired: false, waitingFor: { tag: b, limit: 1, active: 1 } });
    assert.equal((await db.limits.get(a)).active, 1, "y took nothing of a: all or none");
    assert.deepEqual(await db.limits.acquire(runId!, { slug: "z", tags: ["free"] }), {
      acquired: true,
    });
    assert.equal(await db.limits.release(runId!, "x", undefined), 2);
    assert.equal((await db.limits.acquire(runId!, { slug: "y", tags: [a, b] })).acquired, true);
  });

  test("a lowered limit stays full until enough holders end; limit 0 holds every task", async () => {
    const db = await ctx.open();
    const tag = tagName();
    await db.limits.set(tag, 3);
    const [runId] = await runningRuns(db, 1);
    for (const slug of ["a", "b", "c"])
      assert.equal((await db.limits.acquire(runId!, { slug, tags: [tag] })).acquired, true);
    await db.limits.set(tag, 1);
    await db.limits.release(runId!, "a", undefined);
    assert.equal((await db.limits.acquire(runId!, { slug: "d", tags: [tag] })).acquired, false);
    await db.limits.release(runId!, "b", undefined);
    await db.limits.release(runId!, "c", undefined);
    assert.equal((await db.limits.acquire(runId!, { slug: "d", tags: [tag] })).acquired, true);
    await db.limits.set(tag, 0);
    await db.limits.release(runId!, "d", undefined);
    assert.equal((await db.limits.acquire(runId!, { slug: "e", tags: [tag] })).acquired, false);
    await db.limits.delete(tag);
    assert.equal((await db.limits.acquire(runId!, { slug: "e", tags: [tag] })).acquired, true);
  });

  test("a task run's final state, its run's final state and a reschedule free its slots", async () => {
    const db = await ctx.open();
    const tag = tagName();
    await db.limits.set(tag, 5);
    const [r1, r2] = await runningRuns(db, 2);
    await db.limits.acquire(r1!, { slug: "t", mapIndex: 0, tags: [tag] });
    await db.limits.acquire(r1!, { slug: "t", mapIndex: 1, tags: [tag] });
    await db.limits.acquire(r2!, { slug: "u", tags: [tag] });
    assert.equal((await db.limits.get(tag)).active, 3);
    // The final state of child 0 frees its slot only.
    await db.taskRuns.setStates([
      { flowRunId: r1!, slug: "t", mapIndex: 0, state: st("Running"), version: 0 },
      { flowRunId: r1!, slug: "t", mapIndex: 0, state: st("Success"), version: 1 },
      { flowRunId: r1!, slug: "t", mapIndex: 1, state: st("Running"), version: 0 },
    ]);
    assert.deepEqual(
      (await db.limits.get(tag)).holders
        .map((h) => `${h.flowRunId}/${h.taskSlug}/${h.mapIndex}`)
        .sort(),
      [`${r1}/t/1`, `${r2}/u/undefined`].sort(),
    );
    // The flow run's final state frees the rest of its slots.
    const run1 = await db.runs.get(r1!);
    await db.runs.setState(r1!, st("Failed"), run1.version);
    assert.deepEqual(
      (await db.limits.get(tag)).holders.map((h) => h.flowRunId),
      [r2],
    );
    await expectCode(
      () => db.limits.acquire(r1!, { slug: "late", tags: [tag] }),
      "INVALID_TRANSITION",
      "a finished run starts no task",
    );
    // Run health's reschedule of a run whose heartbeats stopped frees its slots.
    const run2 = await db.runs.get(r2!);
    const recovered = await db.runs.recoverStale({ run: run2, reason: "heartbeat-lost" }, 3);
    assert.equal(recovered?.state.type, "Scheduled");
    assert.equal((await db.limits.get(tag)).active, 0);
  });

  test("an acquisition with a stale claim or for an unknown run is refused", async () => {
    const db = await ctx.open();
    const tag = tagName();
    await db.limits.set(tag, 1);
    const label = `l-${randomUUID()}`;
    const flow = serializedFlow({ labels: [label] });
    await db.flows.register(flow);
    const { run } = await db.runs.create({ flowName: flow.name });
    const agent = await db.agents.register({
      name: `a-${randomUUID()}`,
      labels: [label],
      concurrency: 1,
    });
    // Unlabelled runs of other tests are claimable too: take them all, find ours.
    const claimed = (await db.runs.claim(agent.id, 100)).find((c) => c.run.id === run.id);
    assert.equal(claimed?.run.claimCount, 1);
    await expectCode(
      () => db.limits.acquire(run.id, { slug: "t", tags: [tag], claim: 7 }),
      "STALE_VERSION",
      "an older claim",
    );
    assert.equal(
      (await db.limits.acquire(run.id, { slug: "t", tags: [tag], claim: 1 })).acquired,
      true,
    );
    await expectCode(
      () => db.limits.acquire(randomUUID(), { slug: "t", tags: [tag] }),
      "FLOW_RUN_NOT_FOUND",
      "unknown run",
    );
  });
});
