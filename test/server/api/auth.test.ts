// Bearer tokens and scopes (read ⊂ agent ⊂ admin) on a real store.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { TokenScope } from "../../../src/serialization/api-schemas.ts";
import type { ServerDb } from "../../../src/server/db/server-db.ts";
import { forEachDialect } from "../dialects.ts";
import { assertError, testApi } from "./api-fixtures.ts";

async function token(store: ServerDb, scope: TokenScope): Promise<string> {
  return (await store.tokens.create({ name: `${scope}-${randomUUID()}`, scopes: [scope] })).secret;
}

const bearer = (secret: string) => ({ authorization: `Bearer ${secret}` });

forEachDialect("api auth", (ctx) => {
  test("open on loopback while no token exists; closed as soon as one does", async () => {
    // A database of its own: "no active token" must be true here.
    const store = await ctx.open();
    for (const t of await store.tokens.list()) if (!t.revokedAt) await store.tokens.revoke(t.id);
    const api = testApi(store, { auth: { allowOpen: true, cacheMs: 0 } });
    assert.equal((await api.call("GET", "/api/flow-runs")).status, 200);
    assert.equal((await api.call("GET", "/api/tokens")).status, 200, "even admin routes");
    const secret = await token(store, "read");
    assertError(await api.call("GET", "/api/flow-runs"), 401, "UNAUTHENTICATED", ["scope read"]);
    assert.equal((await api.call("GET", "/api/flow-runs", undefined, bearer(secret))).status, 200);
  });

  test("without allowOpen every route but health needs a token (401)", async () => {
    const store = await ctx.open();
    const api = testApi(store, { auth: { allowOpen: false } });
    const answer = await api.call("GET", "/api/flows");
    assertError(answer, 401, "UNAUTHENTICATED", ["GET /api/flows", "Bearer"]);
    assert.match(answer.body.error.hint, /weft token create/);
    assert.equal((await api.call("GET", "/api/health")).status, 200);
    assert.equal((await api.call("GET", "/api/openapi.json")).status, 200);
  });

  test("a malformed header or an unknown token is 401", async () => {
    const store = await ctx.open();
    const api = testApi(store, { auth: { allowOpen: false } });
    assertError(
      await api.call("GET", "/api/flows", undefined, { authorization: "Basic dTpw" }),
      401,
      "UNAUTHENTICATED",
      ["Bearer"],
    );
    assertError(
      await api.call("GET", "/api/flows", undefined, bearer(`weft_${randomUUID()}`)),
      401,
      "UNAUTHENTICATED",
      ["unknown or revoked"],
    );
  });

  test("scopes: read reads, agent writes runs, admin manages tokens; less is 403", async () => {
    const store = await ctx.open();
    const api = testApi(store, { auth: { allowOpen: false } });
    const read = await token(store, "read");
    const agent = await token(store, "agent");
    const admin = await token(store, "admin");
    const register = { name: `agent-${randomUUID()}` };

    assert.equal((await api.call("GET", "/api/flow-runs", undefined, bearer(read))).status, 200);
    const denied = await api.call("POST", "/api/agents", register, bearer(read));
    assertError(denied, 403, "FORBIDDEN", ["scope read", "POST /api/agents", "needs agent"]);
    assertError(
      await api.call("POST", `/api/flow-runs/${randomUUID()}/cancel`, undefined, bearer(read)),
      403,
      "FORBIDDEN",
    );

    assert.equal((await api.call("POST", "/api/agents", register, bearer(agent))).status, 200);
    assert.equal((await api.call("GET", "/api/agents", undefined, bearer(agent))).status, 200);
    assertError(await api.call("GET", "/api/tokens", undefined, bearer(agent)), 403, "FORBIDDEN", [
      "needs admin",
    ]);

    assert.equal((await api.call("GET", "/api/tokens", undefined, bearer(admin))).status, 200);
    assert.equal((await api.call("POST", "/api/agents", register, bearer(admin))).status, 200);
  });

  test("auth is checked before the body: a bad body from a caller without a token is 401", async () => {
    const store = await ctx.open();
    const api = testApi(store, { auth: { allowOpen: false } });
    assertError(await api.call("POST", "/api/flows", "{not json"), 401, "UNAUTHENTICATED");
  });

  test("a revoked token stops working within the cache time", async () => {
    const store = await ctx.open();
    const api = testApi(store, { auth: { allowOpen: false, cacheMs: 200 } });
    const name = `t-${randomUUID()}`;
    const { secret } = await store.tokens.create({ name, scopes: ["read"] });
    assert.equal((await api.call("GET", "/api/flows", undefined, bearer(secret))).status, 200);
    await store.tokens.revoke(name);
    await sleep(250);
    assertError(
      await api.call("GET", "/api/flows", undefined, bearer(secret)),
      401,
      "UNAUTHENTICATED",
    );
  });
});
