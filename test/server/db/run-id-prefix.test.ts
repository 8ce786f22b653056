// Finding runs by the start of their id (GET /api/flow-runs?idPrefix=…), as
// `weft runs inspect 1bda75f8` does: the same answers on SQLite and PostgreSQL.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type DialectContext, forEachDialect } from "../dialects.ts";
import { cloneRun } from "./clone-run.ts";
import { serializedFlow } from "./store-fixtures.ts";

forEachDialect("run id prefixes", (ctx: DialectContext) => {
  test("a prefix finds its run, in any case; a prefix two runs share finds both", async () => {
    const store = await ctx.open();
    const flow = serializedFlow();
    await store.flows.register(flow);
    const { run } = await store.runs.create({ flowName: flow.name });
    const { run: other } = await store.runs.create({ flowName: flow.name });
    const short = run.id.slice(0, 8);
    assert.equal(run.name, `${flow.name}-${short}`, "the prefix a run's name shows");

    const ids = async (idPrefix: string) =>
      (await store.runs.list({ idPrefix, limit: 50 })).items.map((r) => r.id).sort();
    assert.deepEqual(await ids(short), [run.id]);
    assert.deepEqual(await ids(short.toUpperCase()), [run.id]);
    assert.deepEqual(await ids(run.id), [run.id]);
    assert.deepEqual(await ids(other.id.slice(0, 4)), [other.id]);

    const twin = `${short}-0000-4000-8000-${run.id.slice(-12)}`;
    await cloneRun(ctx.db, ctx.dialect === "sqlite", run.id, twin);
    assert.deepEqual(await ids(short), [run.id, twin].sort());
    assert.deepEqual(await ids(twin.slice(0, 12)), [twin]);
    const none = ["0000", "ffff"].find((x) => !run.id.startsWith(x) && !other.id.startsWith(x))!;
    assert.deepEqual(await ids(none), []);
  });
});
