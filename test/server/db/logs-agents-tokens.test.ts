// Logs (batch insert, paging by run), agents (register by name, heartbeat) and API
// tokens (secret shown once, stored hashed, verified, revoked).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { scopeAllows } from "../../../src/server/db/tokens.ts";
import { expectCode } from "../../support/expect-code.ts";
import { forEachDialect } from "../dialects.ts";
import { serializedFlow } from "./store-fixtures.ts";

test("scopes are ordered: read ⊂ agent ⊂ admin", () => {
  assert.ok(scopeAllows(["admin"], "read"));
  assert.ok(scopeAllows(["admin"], "agent"));
  assert.ok(scopeAllows(["agent"], "read"));
  assert.ok(!scopeAllows(["agent"], "admin"));
  assert.ok(!scopeAllows(["read"], "agent"));
  assert.ok(!scopeAllows([], "read"));
});

forEachDialect("logs, agents, tokens", (ctx) => {
  test("logs are stored per run and read back oldest first, in pages", async () => {
    const store = await ctx.open();
    const flow = serializedFlow();
    await store.flows.register(flow);
    const { run } = await store.runs.create({ flowName: flow.name });
    const { run: other } = await store.runs.create({ flowName: flow.name });
    const t = Date.now();
    await store.logs.insert([
      ...Array.from({ length: 7 }, (_, i) => ({
        level: "info" as const,
        message: `line ${i}`,
        time: t + i,
        flowRunId: run.id,
        ...(i === 3
          ? { taskSlug: "inc-1", mapIndex: 2, fields: { rows: 5, nested: { a: [1] } } }
          : {}),
      })),
      { level: "error", message: "elsewhere", time: t, flowRunId: other.id },
    ]);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.logs.list(run.id, { limit: 3, cursor });
      seen.push(...page.items.map((l) => l.message));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    assert.deepEqual(
      seen,
      Array.from({ length: 7 }, (_, i) => `line ${i}`),
    );
    const all = await store.logs.list(run.id, { limit: 50 });
    const fourth = all.items[3]!;
    assert.equal(fourth.taskSlug, "inc-1");
    assert.equal(fourth.mapIndex, 2);
    assert.deepEqual(fourth.fields, { rows: 5, nested: { a: [1] } });
    assert.equal(fourth.time, t + 3);
    assert.equal(typeof fourth.id, "string");
    assert.equal(all.items[0]!.taskSlug, undefined);
    await expectCode(
      () => store.logs.insert([{ level: "info", message: "x", time: t, flowRunId: randomUUID() }]),
      "FLOW_RUN_NOT_FOUND",
      "logs of an unknown run",
    );
    assert.equal(
      (await store.logs.list(run.id, { limit: 50 })).items.length,
      7,
      "nothing of a refused batch",
    );
    await expectCode(
      () => store.logs.list(randomUUID(), { limit: 5 }),
      "FLOW_RUN_NOT_FOUND",
      "unknown run",
    );
  });

  test("an agent registers by name: the same name keeps its id and takes the new labels", async () => {
    const store = await ctx.open();
    const name = `agent-${randomUUID()}`;
    const a = await store.agents.register({ name, labels: ["b", "a", "a"], concurrency: 2 });
    assert.deepEqual(a.labels, ["a", "b"]);
    const again = await store.agents.register({ name, labels: ["c"], concurrency: 4 });
    assert.equal(again.id, a.id);
    assert.deepEqual(again.labels, ["c"]);
    assert.equal(again.concurrency, 4);
    assert.equal(again.createdAt, a.createdAt);
    const beat = await store.agents.heartbeat(a.id);
    assert.ok(beat.lastSeen >= a.lastSeen);
    assert.deepEqual(await store.agents.get(a.id), beat);
    assert.ok((await store.agents.list()).some((x) => x.id === a.id));
    await expectCode(() => store.agents.get(randomUUID()), "AGENT_NOT_FOUND", "unknown agent");
    await expectCode(
      () => store.agents.heartbeat(randomUUID()),
      "AGENT_NOT_FOUND",
      "unknown agent beat",
    );
  });

  test("tokens: the secret verifies; a wrong, malformed or revoked one does not", async () => {
    const store = await ctx.open();
    const before = await store.tokens.countActive();
    const name = `ci-${randomUUID()}`;
    const { token, secret } = await store.tokens.create({ name, scopes: ["agent"] });
    assert.match(secret, new RegExp(`^weft_${token.id}_[0-9a-f]{64}$`));
    assert.deepEqual(token.scopes, ["agent"]);
    assert.equal(await store.tokens.countActive(), before + 1);
    assert.deepEqual(await store.tokens.verify(secret), token);
    const wrong = `${secret.slice(0, -1)}${secret.endsWith("0") ? "1" : "0"}`;
    assert.equal(await store.tokens.verify(wrong), undefined);
    assert.equal(await store.tokens.verify("weft_nope"), undefined);
    assert.equal(await store.tokens.verify(""), undefined);
    assert.equal(await store.tokens.verify(`weft_${"a".repeat(12)}_${"0".repeat(64)}`), undefined);
    // The secret is not stored: no listed record carries it.
    assert.ok(!JSON.stringify(await store.tokens.list()).includes(secret.slice(-64)));
    await expectCode(
      () => store.tokens.create({ name, scopes: ["read"] }),
      "INVALID_REQUEST",
      "a second active token of one name",
    );
    const revoked = await store.tokens.revoke(name);
    assert.ok(revoked.revokedAt);
    assert.equal(await store.tokens.verify(secret), undefined);
    assert.equal(await store.tokens.countActive(), before);
    // Revoked, the name is free again; revoking by id works too.
    const next = await store.tokens.create({ name, scopes: ["read", "admin"] });
    assert.ok((await store.tokens.revoke(next.token.id)).revokedAt);
    await expectCode(
      () => store.tokens.revoke(`nope-${randomUUID()}`),
      "TOKEN_NOT_FOUND",
      "unknown token",
    );
    await expectCode(
      () => store.tokens.create({ name: "x", scopes: [] }),
      "INVALID_REQUEST",
      "no scope",
    );
  });
});
