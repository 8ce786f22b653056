// One claimed run the agent cannot read (a row an older weft stored with a time
// in year 10000) never strands the others claimed with it: they run, and that
// one is failed with a message saying why, on SQLite and PostgreSQL.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, test } from "node:test";
import type { Kysely } from "kysely";
import type { Tables } from "../../src/server/db/tables.ts";
import { chain } from "../fixtures/agent/agent-flows.ts";
import { POSTGRES_URL } from "../server/dialects.ts";
import { waitUntil } from "../support/weft-process.ts";
import { startTestServer, type TestServer } from "./agent-server.ts";

const dialects = [
  ["sqlite", false],
  ["postgres", POSTGRES_URL === undefined ? "WEFT_TEST_POSTGRES_URL not set" : false],
] as const;

for (const [dialect, skip] of dialects) {
  describe(`agent, unreadable claim (${dialect})`, { skip }, () => {
    const servers: TestServer[] = [];
    after(() => Promise.all(servers.map((s) => s.close())));

    test("the other runs of the claim answer run; the unreadable one is failed, saying why", async () => {
      const s = await startTestServer(dialect, { scheduler: false });
      servers.push(s);
      const label = `u-${randomUUID().slice(0, 8)}`;
      await s.register(chain, { labels: [label] });
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) {
        const { run } = await s.api.createFlowRun({
          flowName: "agent-chain",
          scheduledStart: `2000-01-01T00:00:0${i}Z`,
        });
        ids.push(run.id);
      }
      // As an older weft stored "9999-12-31T23:00:00-05:00": year 10000, due at once as text.
      const bad = ids[1]!;
      await (s.server.db.flows as unknown as { ctx: { db: Kysely<Tables> } }).ctx.db
        .updateTable("flow_runs")
        .set({ scheduled_start: "+010000-01-01T04:00:00.000Z" })
        .where("id", "=", bad)
        .execute();
      s.agent({ labels: [label], concurrency: 4 });
      for (const id of ids.filter((id) => id !== bad)) {
        const done = await s.waitFor(id, undefined, 30_000);
        assert.equal(done.state.type, "Success", done.state.message);
      }
      // Read from the store: the client refuses this run's record, as the agent did.
      const failed = await waitUntil("the unreadable run failed", async () => {
        const run = await s.server.db.runs.get(bad);
        return run.state.type === "Failed" ? run : undefined;
      });
      assert.equal(failed.state.type, "Failed", failed.state.message);
      assert.match(
        failed.state.message ?? "",
        /could not read the run's claim answer: run\.scheduledStart/,
      );
    });
  });
}
