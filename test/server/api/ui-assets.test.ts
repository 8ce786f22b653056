// The web UI served by the API's app: index.html for every view's path (history routing),
// hashed assets cached for a year, the API untouched under /api, a page that says how to
// build the UI when it is not built, and GET /api/session for the UI's scope checks.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { openServerDb } from "../../../src/server/db/open-server-db.ts";
import { testApi } from "./api-fixtures.ts";

const dir = mkdtempSync(join(tmpdir(), "weft-ui-assets-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const ui = join(dir, "ui");
mkdirSync(join(ui, "assets"), { recursive: true });
writeFileSync(join(ui, "index.html"), "<!doctype html><title>weft</title><div id=root></div>");
writeFileSync(join(ui, "assets", "index-abc123.js"), "console.log('app')");
writeFileSync(join(ui, "favicon.svg"), "<svg/>");
writeFileSync(join(dir, "secret.txt"), "not for the web");

async function app(uiDir = ui) {
  const db = await openServerDb({ db: ":memory:" });
  after(() => db.close());
  return testApi(db, { uiDir }).app;
}

test("every view's path answers index.html, never cached, with a same-origin-only policy", async () => {
  const served = await app();
  for (const path of ["/", "/flows", "/flows/etl%20daily", "/runs", "/runs/0b1c", "/settings"]) {
    const res = await served.request(path);
    assert.equal(res.status, 200, path);
    assert.match(await res.text(), /<div id=root>/, path);
    assert.equal(res.headers.get("cache-control"), "no-cache", path);
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'self'/, path);
    assert.match(res.headers.get("content-security-policy") ?? "", /frame-ancestors 'none'/);
    assert.equal(res.headers.get("content-type"), "text/html; charset=utf-8");
  }
});

test("hashed assets are kept a year; a missing asset is 404, not the app", async () => {
  const served = await app();
  const res = await served.request("/assets/index-abc123.js");
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "console.log('app')");
  assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.match(res.headers.get("content-type") ?? "", /javascript/);
  assert.equal((await served.request("/assets/index-gone.js")).status, 404);
  const icon = await served.request("/favicon.svg");
  assert.equal(icon.status, 200);
  assert.equal(await icon.text(), "<svg/>");
});

test("the API stays the API: an unknown /api path is a JSON 404", async () => {
  const served = await app();
  const res = await served.request("/api/nothing-here");
  assert.equal(res.status, 404);
  const body = (await res.json()) as { error: { code: string } };
  assert.equal(body.error.code, "ROUTE_NOT_FOUND");
  assert.equal((await served.request("/api/health")).status, 200);
});

test("no file outside the UI's folder is served", async () => {
  const served = await app();
  for (const path of ["/../secret.txt", "/%2e%2e/secret.txt", "/assets/../../secret.txt"]) {
    const res = await served.request(path);
    assert.doesNotMatch(await res.text(), /not for the web/, path);
  }
});

test("without a built UI the API works and / says how to build it", async () => {
  const served = await app(join(dir, "not-built"));
  const res = await served.request("/runs");
  assert.equal(res.status, 404);
  assert.match(await res.text(), /npm run build/);
  assert.equal((await served.request("/api/health")).status, 200);
});

test("GET /api/session names the caller's scope: open, or the token's widest", async () => {
  const db = await openServerDb({ db: ":memory:" });
  after(() => db.close());
  const open = testApi(db, { auth: { allowOpen: true, cacheMs: 0 } });
  assert.deepEqual((await open.call("GET", "/api/session")).body, { scope: "open" });
  const read = await db.tokens.create({ name: "viewer", scopes: ["read"] });
  const admin = await db.tokens.create({ name: "ops", scopes: ["read", "admin"] });
  const closed = testApi(db, { auth: { allowOpen: false, cacheMs: 0 } });
  const as = (secret: string) => ({ authorization: `Bearer ${secret}` });
  assert.deepEqual((await closed.call("GET", "/api/session", undefined, as(read.secret))).body, {
    scope: "read",
    tokenName: "viewer",
  });
  assert.deepEqual((await closed.call("GET", "/api/session", undefined, as(admin.secret))).body, {
    scope: "admin",
    tokenName: "ops",
  });
  assert.equal((await closed.call("GET", "/api/session")).status, 401);
});
