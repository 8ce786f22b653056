// Secrets at registration (issue #13, item 3): literal values in an environment's
// env map and signed URLs are refused (400) and never reach the database (the
// SQLite file's bytes, PostgreSQL's rows as text); parameter values shaped like
// credentials are masked for read-scope tokens and shown to agent and admin ones.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { environmentRegistry } from "../../../src/environments/registry.ts";
import { MASKED } from "../../../src/serialization/credentials.ts";
import { storageRegistry } from "../../../src/storage/registry.ts";
import { serializedFlow } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { assertError, testApi } from "./api-fixtures.ts";
import { databaseHolds } from "./database-text.ts";

const deployment = { storage: storageRegistry, environment: environmentRegistry };
const http = (url: string) => ({ type: "http", schemaVersion: 1, url, flows: {} });
const subprocess = (env: Record<string, string>) => ({
  type: "subprocess",
  schemaVersion: 1,
  labels: [],
  env,
});

forEachDialect("secrets at registration", (ctx) => {
  test("literal env values and signed URLs are 400 CREDENTIAL_IN_CONFIG and never stored", async () => {
    const api = testApi(await ctx.open(), { deployment });
    const marker = () => `marker${randomUUID().replaceAll("-", "")}`;
    const cases = [
      (m: string) => ({ environment: subprocess({ SERVICE_URL: `https://svc/${m}` }) }),
      (m: string) => ({ environment: subprocess({ LOG_LEVEL: "env:LOG_LEVEL", PLAIN: m }) }),
      (m: string) => ({
        storage: http(
          `https://bucket.s3.amazonaws.com/flows?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20260101&X-Amz-Signature=${m}`,
        ),
      }),
      (m: string) => ({
        storage: http(`https://acct.blob.core.windows.net/flows?sv=2022-11-02&sp=rw&sig=${m}`),
      }),
      (m: string) => ({ storage: http(`https://artifacts.example.com/flows?token=${m}`) }),
      (m: string) => ({ storage: http(`https://artifacts.example.com/flows?access_token=${m}`) }),
    ];
    for (const make of cases) {
      const m = marker();
      const flow = serializedFlow(make(m));
      const answer = await api.call("POST", "/api/flows", { flow });
      const message = assertError(answer, 400, "CREDENTIAL_IN_CONFIG", [`flow "${flow.name}"`]);
      assert.ok(!message.includes(m), `the value is never echoed: ${message}`);
      assert.equal(await databaseHolds(ctx, m), false, `${m} reached the database`);
      assert.equal(await databaseHolds(ctx, flow.name), false);
    }
    // What is allowed: env:NAME references, and a URL without a signature.
    const m = marker();
    const good = serializedFlow({
      environment: subprocess({ SERVICE_URL: "env:SERVICE_URL" }),
      storage: http(`https://artifacts.example.com/${m}?region=eu`),
      location: "abc.mjs#x",
    });
    assert.equal((await api.call("POST", "/api/flows", { flow: good })).status, 201);
    assert.equal(await databaseHolds(ctx, m), true, "the check sees what is stored");
  });

  test("credential-shaped parameter values are masked for read scope, shown to agent and admin", async () => {
    const store = await ctx.open();
    const api = testApi(store, { auth: { allowOpen: false, cacheMs: 0 } });
    const token = async (scope: "read" | "agent" | "admin") =>
      `Bearer ${(await store.tokens.create({ name: `${scope}-${randomUUID()}`, scopes: [scope] })).secret}`;
    const [read, agent, admin] = [await token("read"), await token("agent"), await token("admin")];
    const github = `ghp_${"A1b2C3d4E5".repeat(4)}`;
    const aws = "AKIAIOSFODNN7EXAMPLE";
    const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----";
    const random = "q8Zt3LmN0pXv7Rk2Wd9Yb4Hs6Jf1Gc5Ue";
    const flow = serializedFlow({
      parameters: [
        { name: "repo", default: "weft/weft", required: false, validated: false },
        { name: "gh", default: github, required: false, validated: false },
        { name: "apiToken", default: "short", required: false, validated: false },
        {
          name: "nested",
          default: { key: pem, list: [random, "ok"] },
          required: false,
          validated: false,
        },
        { name: "digest", default: "a".repeat(64), required: false, validated: false },
      ],
    });
    const registered = await api.call("POST", "/api/flows", { flow }, { authorization: agent });
    assert.equal(registered.status, 201, JSON.stringify(registered.body));
    const id = registered.body.flow.id as string;

    const defaultsOf = (parameters: { name: string; default: unknown }[]) =>
      Object.fromEntries(parameters.map((p) => [p.name, p.default]));
    const defaults = async (auth: string) =>
      defaultsOf(
        (await api.call("GET", `/api/flows/${id}`, undefined, { authorization: auth })).body.flow
          .parameters,
      );
    assert.deepEqual(await defaults(read), {
      repo: "weft/weft",
      gh: MASKED,
      apiToken: MASKED,
      nested: { key: MASKED, list: [MASKED, "ok"] },
      digest: "a".repeat(64),
    });
    for (const auth of [agent, admin]) {
      const shown = await defaults(auth);
      assert.equal(shown.gh, github);
      assert.equal(shown.apiToken, "short");
      assert.deepEqual(shown.nested, { key: pem, list: [random, "ok"] });
    }

    const created = await api.call(
      "POST",
      "/api/flow-runs",
      { flowName: flow.name, parameters: { repo: aws } },
      { authorization: agent },
    );
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const runId = created.body.run.id as string;
    const detail = await api.call("GET", `/api/flow-runs/${runId}`, undefined, {
      authorization: read,
    });
    assert.equal(detail.body.parameters.repo, MASKED);
    assert.equal(detail.body.parameters.gh, MASKED);
    assert.equal(detail.body.parameters.digest, "a".repeat(64));
    const list = await api.call("GET", `/api/flow-runs?flowName=${flow.name}`, undefined, {
      authorization: read,
    });
    assert.equal(list.body.items[0].parameters.repo, MASKED);
    const full = await api.call("GET", `/api/flow-runs/${runId}`, undefined, {
      authorization: admin,
    });
    assert.equal(full.body.parameters.repo, aws);
    assert.equal(full.body.parameters.gh, github);

    // The flow version a run's detail carries (include=flow) is masked as GET /api/flows/:id.
    const withFlow = async (auth: string) =>
      (
        await api.call("GET", `/api/flow-runs/${runId}?include=flow`, undefined, {
          authorization: auth,
        })
      ).body;
    const masked = await withFlow(read);
    assert.equal(masked.parameters.repo, MASKED);
    assert.deepEqual(defaultsOf(masked.flow.flow.parameters), await defaults(read));
    const shown = await withFlow(admin);
    assert.equal(shown.parameters.repo, aws);
    assert.equal(defaultsOf(shown.flow.flow.parameters).gh, github);
  });
});
