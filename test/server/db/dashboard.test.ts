// The web UI's reads of many runs: the dashboard's aggregates (GET /api/dashboard) and the
// runs list's filters (time range, labels), the same answers on SQLite and PostgreSQL; and
// the query plans of the list's filters on SQLite use an index (no scan of every run).
import assert from "node:assert/strict";
import { test } from "node:test";
import SqliteDatabase from "better-sqlite3";
import { explainPending } from "../../../src/serialization/pending-reason.ts";
import { type DialectContext, forEachDialect } from "../dialects.ts";
import { serializedFlow, st } from "./store-fixtures.ts";

forEachDialect("dashboard", (ctx: DialectContext) => {
  test("buckets by final state, failures with their failing task, agents, waiting runs with reasons", async () => {
    const db = await ctx.open();
    const flow = serializedFlow({ labels: ["gpu"] });
    await db.flows.register(flow);
    const finish = async (type: "Success" | "Failed", failTask?: string) => {
      const { run } = await db.runs.create({ flowName: flow.name });
      const agent = await db.agents.register({ name: "a1", labels: ["gpu"], concurrency: 1 });
      const [claimed] = await db.runs.claim(agent.id, 1);
      assert.equal(claimed?.run.id, run.id);
      let current = await db.runs.setState(run.id, st("Running"), claimed!.run.version);
      if (failTask !== undefined) {
        await db.taskRuns.setStates([
          {
            flowRunId: run.id,
            slug: "x",
            state: st("Success"),
            version: 0,
          },
          {
            flowRunId: run.id,
            slug: "inc-1",
            state: st("Failed", new Date(), {
              message: "task failed",
              error: { type: "Error", message: `boom: ${failTask}` },
            }),
            version: 0,
          },
        ]);
      }
      current = await db.runs.setState(
        run.id,
        st(type, new Date(), type === "Failed" ? { message: "reference task failed" } : {}),
        current.version,
      );
      return current;
    };
    await finish("Success");
    await finish("Success");
    const failed = await finish("Failed", "no rows");
    // One run held by the agent (Running) and one due run that waits for it.
    const { run: held } = await db.runs.create({ flowName: flow.name });
    const agents = await db.agents.list();
    const [claimed] = await db.runs.claim(agents[0]!.id, 1);
    assert.equal(claimed?.run.id, held.id);
    await db.runs.setState(held.id, st("Running"), claimed!.run.version);
    const { run: waiting } = await db.runs.create({ flowName: flow.name, labels: ["big"] });

    const d = await db.dashboard.summary({});
    assert.equal(d.bucket, "hour");
    assert.ok(d.buckets.length >= 24 && d.buckets.length <= 26, `${d.buckets.length} buckets`);
    const total = (type: string) => d.buckets.reduce((n, b) => n + (b.counts[type] ?? 0), 0);
    assert.equal(total("Success"), 2);
    assert.equal(total("Failed"), 1);
    assert.deepEqual(d.buckets.at(-1)!.counts, { Success: 2, Failed: 1 });

    assert.equal(d.failureCount, 1);
    assert.equal(d.failures.length, 1);
    assert.equal(d.failures[0]!.runId, failed.id);
    assert.equal(d.failures[0]!.message, "reference task failed");
    assert.deepEqual(d.failures[0]!.task, {
      slug: "inc-1",
      state: "Failed",
      message: "boom: no rows",
    });

    assert.equal(d.agents.length, 1);
    assert.equal(d.agents[0]!.running, 1);
    assert.equal(d.runningCount, 1);

    assert.equal(d.waitingCount, 1);
    assert.equal(d.waiting[0]!.runId, waiting.id);
    assert.deepEqual(d.waiting[0]!.labels, ["big", "gpu"]);
    // The same sentence `weft runs inspect` prints.
    const expected = explainPending(await db.runs.get(waiting.id), {
      agents: await db.agents.list(),
      busy: new Map([[agents[0]!.id, 1]]),
      now: new Date(d.now),
    });
    assert.equal(d.waiting[0]!.reason, expected);
    assert.match(d.waiting[0]!.reason, /no live agent carries labels \[big, gpu\]/);

    const days = await db.dashboard.summary({
      since: new Date(Date.now() - 10 * 86_400_000).toISOString(),
    });
    assert.equal(days.bucket, "day");
    assert.ok(days.buckets.length >= 10 && days.buckets.length <= 12);
    assert.equal(
      days.buckets.reduce((n, b) => n + (b.counts.Success ?? 0), 0),
      2,
    );
  });

  test("the runs list filters by time range and labels, and pages through them", async () => {
    const db = await ctx.open();
    const flow = serializedFlow();
    await db.flows.register(flow);
    const at = (h: number) => new Date(Date.UTC(2030, 0, 1, h)).toISOString();
    const ids: string[] = [];
    for (let h = 0; h < 6; h++) {
      const { run } = await db.runs.create({
        flowName: flow.name,
        scheduledStart: at(h),
        labels: h % 2 === 0 ? ["even", "50%_off"] : ["odd"],
      });
      ids.push(run.id);
    }
    const list = async (q: Record<string, string>) =>
      (await db.runs.list({ flowName: flow.name, limit: 50, ...q })).items.map((r) =>
        ids.indexOf(r.id),
      );
    assert.deepEqual(await list({ since: at(2), until: at(5) }), [4, 3, 2]);
    assert.deepEqual(await list({ labels: "even" }), [4, 2, 0]);
    assert.deepEqual(await list({ labels: "odd,even" }), []);
    // LIKE's own wildcards in a label are matched literally.
    assert.deepEqual(await list({ labels: "50%_off" }), [4, 2, 0]);
    assert.deepEqual(await list({ labels: "50%" }), []);
    assert.deepEqual(await list({ labels: "ev" }), []);
    const first = await db.runs.list({ flowName: flow.name, labels: "even", limit: 2 });
    assert.deepEqual(
      first.items.map((r) => ids.indexOf(r.id)),
      [4, 2],
    );
    const second = await db.runs.list({
      flowName: flow.name,
      labels: "even",
      limit: 2,
      cursor: first.nextCursor!,
    });
    assert.deepEqual(
      second.items.map((r) => ids.indexOf(r.id)),
      [0],
    );
  });

  if (ctx.dialect === "sqlite")
    test("each filter of the runs list and the dashboard's ranges use an index (SQLite plan)", async () => {
      const db = await ctx.open();
      await db.flows.register(serializedFlow());
      const sqlite = new SqliteDatabase(ctx.db, { readonly: true });
      try {
        const plan = (query: string) =>
          (sqlite.prepare(`explain query plan ${query}`).all() as { detail: string }[])
            .map((r) => r.detail)
            .join("; ");
        const page = "order by scheduled_start desc, id desc limit 51";
        const cursor = "(scheduled_start, id) < ('2030-01-01', 'z')";
        for (const [what, where, index] of [
          ["state (one query per type)", "state_type = 'Failed'", "flow_runs_state_list"],
          ["flow", "flow_name = 'etl'", "flow_runs_flow_name_list"],
          [
            "time range",
            "scheduled_start >= '2020' and scheduled_start < '2030'",
            "flow_runs_scheduled",
          ],
          ["state + cursor", `state_type = 'Failed' and ${cursor}`, "flow_runs_state_list"],
          ["flow + cursor", `flow_name = 'etl' and ${cursor}`, "flow_runs_flow_name_list"],
          [
            "flow + state",
            "flow_name = 'etl' and state_type = 'Failed'",
            "flow_runs_flow_state_list",
          ],
        ] as const) {
          const p = plan(`select * from flow_runs where ${where} ${page}`);
          assert.match(p, new RegExp(`USING (COVERING )?INDEX ${index}`), `${what}: ${p}`);
          assert.doesNotMatch(p, /SCAN flow_runs(?! USING)/, `${what}: ${p}`);
        }
        const ended = plan(
          "select substr(end_time, 1, 13), state_type, count(*) from flow_runs where end_time >= '2030' group by 1, 2",
        );
        assert.match(ended, /INDEX flow_runs_ended/, ended);
      } finally {
        sqlite.close();
      }
    });
});
