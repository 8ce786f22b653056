// Times at the API: only years 1970–9999 (once converted to UTC) are accepted,
// stored as fixed-width UTC text with milliseconds so that both dialects compare
// them as times; and one claimed run a client cannot read never strands the
// others of the same claim answer.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import type { Kysely } from "kysely";
import { createApiClient, type UnreadableClaim } from "../../../src/client/api-client.ts";
import type { ServerDb } from "../../../src/server/db/server-db.ts";
import type { Tables } from "../../../src/server/db/tables.ts";
import { serializedFlow, st } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { manualClock } from "../loops/loop-fixtures.ts";
import { assertError, testApi } from "./api-fixtures.ts";

/** The store's own query builder: to write a row as an older weft did (tests only). */
function rawDb(store: ServerDb): Kysely<Tables> {
  return (store.flows as unknown as { ctx: { db: Kysely<Tables> } }).ctx.db;
}

forEachDialect("api times", (ctx) => {
  async function setup(now?: () => Date) {
    const store = await ctx.open(now === undefined ? {} : { now });
    const api = testApi(store);
    const label = `t-${randomUUID()}`;
    const { flow } = await store.flows.register(serializedFlow({ labels: [label] }));
    const agent = await store.agents.register({
      name: `agent-${randomUUID()}`,
      labels: [label],
      concurrency: 10,
    });
    return { store, api, flow, agent };
  }

  test("a time outside years 1970-9999 in UTC is refused with 400 naming the field; nothing is stored", async () => {
    const { store, api, flow } = await setup();
    for (const scheduledStart of [
      "9999-12-31T23:00:00-05:00", // year 10000 in UTC
      "1969-12-31T23:59:59.999Z",
      "1970-01-01T00:30:00+01:00", // 1969 in UTC
    ]) {
      assertError(
        await api.call("POST", "/api/flow-runs", { flowId: flow.id, scheduledStart }),
        400,
        "INVALID_REQUEST",
        ["scheduledStart", "1970 to 9999", scheduledStart],
      );
    }
    assert.deepEqual((await store.runs.list({ flowId: flow.id, limit: 50 })).items, []);

    // A state write carrying such a time (a retry due in year 10000) is refused too.
    const created = await api.call("POST", "/api/flow-runs", { flowId: flow.id });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const run = created.body.run;
    assertError(
      await api.call("POST", `/api/flow-runs/${run.id}/state`, {
        state: st("Retrying", new Date(), { retryAt: "9999-12-31T23:30:00-01:00" }),
        version: run.version,
      }),
      400,
      "INVALID_REQUEST",
      ["retryAt", "1970 to 9999"],
    );
    assert.equal((await store.runs.get(run.id)).version, run.version, "nothing written");

    // The bounds themselves are accepted.
    for (const scheduledStart of ["1970-01-01T00:00:00Z", "9999-12-31T18:59:59.999-05:00"]) {
      const answer = await api.call("POST", "/api/flow-runs", { flowId: flow.id, scheduledStart });
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
    }
  });

  test("times are stored as UTC with milliseconds and compared as times", async () => {
    const clock = manualClock("2031-01-01T00:20:00.000Z");
    const { store, api, flow, agent } = await setup(clock.now);
    const starts = {
      "2031-01-01T05:00:00+05:00": "2031-01-01T00:00:00.000Z",
      "2030-12-31T23:30:00-01:00": "2031-01-01T00:30:00.000Z",
      "2031-01-01T00:15:00Z": "2031-01-01T00:15:00.000Z",
      "9999-12-31T18:59:59.999-05:00": "9999-12-31T23:59:59.999Z",
      "1970-01-01T00:00:00.5Z": "1970-01-01T00:00:00.500Z",
    };
    for (const [given, stored] of Object.entries(starts)) {
      const answer = await api.call("POST", "/api/flow-runs", {
        flowId: flow.id,
        scheduledStart: given,
      });
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      assert.equal(answer.body.run.scheduledStart, stored);
    }
    const listed = await api.call("GET", `/api/flow-runs?flowId=${flow.id}`);
    assert.deepEqual(
      listed.body.items.map((r: { scheduledStart: string }) => r.scheduledStart),
      Object.values(starts).sort().reverse(),
      "newest first, by time",
    );
    // Due now (00:20Z): 1970, 00:00Z and 00:15Z; not 00:30Z, nor the last day of 9999.
    const claim = await api.call("POST", `/api/agents/${agent.id}/claim`, { limit: 10 });
    assert.equal(claim.status, 200, JSON.stringify(claim.body));
    assert.deepEqual(
      claim.body.runs.map((c: { run: { scheduledStart: string } }) => c.run.scheduledStart),
      ["1970-01-01T00:00:00.500Z", "2031-01-01T00:00:00.000Z", "2031-01-01T00:15:00.000Z"],
    );
    assert.equal((await store.runs.nextDue(agent.id))?.toISOString(), "2031-01-01T00:30:00.000Z");
  });

  test("one claimed run the client cannot read is handed back apart; the others are returned", async () => {
    const { store, api, flow, agent } = await setup();
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const answer = await api.call("POST", "/api/flow-runs", {
        flowId: flow.id,
        scheduledStart: `2000-01-01T00:00:0${i}Z`,
      });
      ids.push(answer.body.run.id);
    }
    // The middle one as an older weft stored it: year 10000, compared as text, so due at once.
    await rawDb(store)
      .updateTable("flow_runs")
      .set({ scheduled_start: "+010000-01-01T04:00:00.000Z" })
      .where("id", "=", ids[1]!)
      .execute();
    const client = createApiClient({
      url: "http://127.0.0.1",
      fetch: ((input: string, init?: RequestInit) => api.app.request(input, init)) as typeof fetch,
    });
    const unreadable: UnreadableClaim[] = [];
    const claimed = await client.claimFlowRuns(agent.id, {
      limit: 10,
      onUnreadable: (c) => unreadable.push(c),
    });
    assert.deepEqual(claimed.map((c) => c.run.id).sort(), [ids[0], ids[2]].sort());
    assert.equal(unreadable.length, 1);
    assert.equal(unreadable[0]!.id, ids[1]);
    assert.equal(unreadable[0]!.version, 2);
    assert.match(unreadable[0]!.problem, /scheduledStart/);
  });
});
