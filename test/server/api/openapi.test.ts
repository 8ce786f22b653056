// The OpenAPI document: valid JSON, OpenAPI 3.1, listing every route the app serves.
import assert from "node:assert/strict";
import { test } from "node:test";
import { forEachDialect } from "../dialects.ts";
import { testApi } from "./api-fixtures.ts";

forEachDialect("api openapi", (ctx) => {
  test("GET /api/openapi.json is an OpenAPI 3.1 document of every route", async () => {
    const api = testApi(await ctx.open());
    const res = await api.app.request("/api/openapi.json");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const doc = JSON.parse(await res.text());
    assert.equal(doc.openapi, "3.1.0");
    assert.equal(typeof doc.info.version, "string");

    const served = new Set(
      api.app.routes
        .filter((r) => r.path.startsWith("/api/") && r.method !== "ALL")
        .map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:([A-Za-z]+)/g, "{$1}")}`),
    );
    const documented = new Set<string>();
    const operationIds = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths as Record<string, object>)) {
      for (const [method, op] of Object.entries(item as Record<string, Record<string, unknown>>)) {
        documented.add(`${method} ${path}`);
        assert.equal(typeof op.operationId, "string", `${method} ${path} has an operationId`);
        assert.ok(!operationIds.has(op.operationId as string), `unique ${op.operationId}`);
        operationIds.add(op.operationId as string);
        const responses = op.responses as Record<string, unknown>;
        assert.ok(responses["200"] ?? responses["201"], `${method} ${path} has a success answer`);
        assert.ok(responses["500"], `${method} ${path} documents 500`);
      }
    }
    assert.ok(served.size >= 20, `the app serves its routes (${served.size})`);
    assert.deepEqual([...documented].sort(), [...served].sort());

    const createRun = doc.paths["/api/flow-runs"].post;
    const body = createRun.requestBody.content["application/json"].schema;
    assert.ok(body.properties.flowName, "request schemas come from zod");
    assert.equal(createRun["x-weft-scope"], "agent");
    assert.deepEqual(createRun.security, [{ bearer: [] }]);
    assert.deepEqual(doc.paths["/api/health"].get.security, []);
    const list = doc.paths["/api/flow-runs"].get;
    assert.ok(
      list.parameters.some(
        (p: { name: string; in: string }) => p.name === "state" && p.in === "query",
      ),
    );
    assert.ok(
      doc.paths["/api/flow-runs"].post.responses["409"].description.includes(
        "IDEMPOTENCY_CONFLICT",
      ),
    );
    assert.ok(doc.components.schemas.ApiError);
  });
});
