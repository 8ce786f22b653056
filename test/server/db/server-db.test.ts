// The database's shape (issue #14): one repository per aggregate, each behind the
// error guard, with the writes that span tables kept inside the repository that
// owns them (a claim is one transaction over agents, flow runs and their history).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { expectCode } from "../../support/expect-code.ts";
import { forEachDialect } from "../dialects.ts";
import { serializedFlow } from "./store-fixtures.ts";

const REPOSITORIES = ["agents", "flows", "logs", "runs", "taskRuns", "tokens"] as const;

forEachDialect("server db", (ctx) => {
  test("the database is one repository per aggregate, not one object of forty methods", async () => {
    const db = await ctx.open();
    const own = Object.keys(db).sort();
    for (const name of REPOSITORIES) assert.ok(own.includes(name), `db.${name}`);
    for (const gone of ["registerFlow", "createFlowRun", "claimFlowRuns", "createToken"]) {
      assert.equal((db as unknown as Record<string, unknown>)[gone], undefined, gone);
    }
    assert.deepEqual(
      own.filter((k) => typeof (db as unknown as Record<string, unknown>)[k] === "function"),
      ["asLeader", "close", "ready"],
      "besides the repositories, only the connection's own operations",
    );
  });

  test("a claim through db.runs writes the agent, the run and its history in one transaction", async () => {
    const db = await ctx.open();
    const label = `l-${randomUUID()}`;
    const { flow } = await db.flows.register(serializedFlow({ labels: [label] }));
    const { run } = await db.runs.create({ flowId: flow.id });
    const agent = await db.agents.register({
      name: `a-${randomUUID()}`,
      labels: [label],
      concurrency: 1,
    });
    const [claimed] = await db.runs.claim(agent.id, 1);
    assert.equal(claimed?.run.id, run.id);
    const detail = await db.runs.getDetail(run.id);
    assert.deepEqual(
      detail.history.map((s) => s.type),
      ["Scheduled", "Submitted"],
    );
    assert.equal(detail.version, 2);
    assert.equal(detail.agentId, agent.id);
  });

  test("every repository's methods answer DATABASE_UNAVAILABLE once the database is closed", async () => {
    const db = await ctx.open();
    await db.close();
    await expectCode(
      () => db.flows.list({ archived: "all", limit: 1 }),
      "DATABASE_UNAVAILABLE",
      "flows",
    );
    await expectCode(() => db.runs.list({ limit: 1 }), "DATABASE_UNAVAILABLE", "runs");
    await expectCode(() => db.taskRuns.list(randomUUID()), "DATABASE_UNAVAILABLE", "task runs");
    await expectCode(
      () => db.logs.list(randomUUID(), { limit: 1 }),
      "DATABASE_UNAVAILABLE",
      "logs",
    );
    await expectCode(() => db.agents.list(), "DATABASE_UNAVAILABLE", "agents");
    await expectCode(() => db.tokens.list(), "DATABASE_UNAVAILABLE", "tokens");
    await db.close();
  });
});
