// What registration may store (issue #13, items 2 and 4): a flow's storage and
// environment pass the rules an agent deploys by (known kinds and their schemas,
// locations inside the storage, module storage only when allowed); an agent
// token keeps the names it registered; parameters never reach Object.prototype.
// In process on a real store, SQLite and PostgreSQL.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { environmentRegistry } from "../../../src/environments/registry.ts";
import {
  ENVIRONMENT_TYPES,
  type SerializedFlow,
  STORAGE_TYPES,
} from "../../../src/serialization/schemas.ts";
import type { ServerDb } from "../../../src/server/db/server-db.ts";
import { storageRegistry } from "../../../src/storage/registry.ts";
import { serializedFlow } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { assertError, type TestApi, testApi } from "./api-fixtures.ts";

const registries = { storage: storageRegistry, environment: environmentRegistry };
const localStorage = (flows: Record<string, string> = {}) => ({
  type: "local",
  schemaVersion: 1,
  directory: "/srv/weft/flows",
  hostnameLabel: false,
  flows,
});

/** An app that checks deployments as `weft server start` does (the CLI passes the registries). */
function deployingApi(store: ServerDb, allowModuleStorage = false): TestApi {
  return testApi(store, { deployment: { ...registries, allowModuleStorage } });
}

async function assertNothingStored(api: TestApi, flow: SerializedFlow): Promise<void> {
  const list = await api.call("GET", `/api/flows?name=${encodeURIComponent(flow.name)}`);
  assert.deepEqual(list.body.items, [], `nothing is stored for ${flow.name}`);
}

test("the type tags a server without registries checks are the registries' own", () => {
  assert.deepEqual([...STORAGE_TYPES].sort(), storageRegistry.types().sort());
  assert.deepEqual([...ENVIRONMENT_TYPES].sort(), environmentRegistry.types().sort());
});

forEachDialect("registration: what an agent would refuse", (ctx) => {
  test("a location outside its storage is 400 STORAGE_LOCATION_ESCAPE naming the flow and the location", async () => {
    for (const api of [deployingApi(await ctx.open()), testApi(await ctx.open())]) {
      for (const location of [
        "../../../../etc/passwd#x",
        "/etc/passwd#x",
        "C:\\Windows\\win.ini#x",
        "bundles/../../x.mjs#x",
        "bundles/%2e%2E/x.mjs#x",
        "a\\..\\b.mjs#x",
      ]) {
        const flow = serializedFlow({ storage: localStorage(), location });
        const answer = await api.call("POST", "/api/flows", { flow });
        assertError(answer, 400, "STORAGE_LOCATION_ESCAPE", [
          `flow "${flow.name}"`,
          JSON.stringify(location),
        ]);
        await assertNothingStored(api, flow);
      }
      // A NUL is refused by the request schema before any storage rule is asked.
      const nul = serializedFlow({ storage: localStorage(), location: "bund\0les.mjs#x" });
      assertError(await api.call("POST", "/api/flows", { flow: nul }), 400, "INVALID_REQUEST", [
        "flow.location",
      ]);
      await assertNothingStored(api, nul);
      const bare = serializedFlow({ storage: localStorage(), location: "no-flow-name" });
      assertError(
        await api.call("POST", "/api/flows", { flow: bare }),
        400,
        "STORAGE_LOCATION_INVALID",
        ["no-flow-name"],
      );
    }
  });

  test("unknown storage and environment types are 400 UNKNOWN_TYPE naming the type and the known ones", async () => {
    for (const api of [deployingApi(await ctx.open()), testApi(await ctx.open())]) {
      const storage = serializedFlow({ storage: { type: "ftp", schemaVersion: 1 } });
      assertError(await api.call("POST", "/api/flows", { flow: storage }), 400, "UNKNOWN_TYPE", [
        `flow "${storage.name}"`,
        '"ftp"',
        "local, module, s3, git, http",
      ]);
      await assertNothingStored(api, storage);
      const environment = serializedFlow({ environment: { type: "k8s", schemaVersion: 1 } });
      assertError(
        await api.call("POST", "/api/flows", { flow: environment }),
        400,
        "UNKNOWN_TYPE",
        ['"k8s"', "local, subprocess, distributed"],
      );
      await assertNothingStored(api, environment);
    }
  });

  test("with the registries, each kind's fields are checked as the agent checks them (400 INVALID_SERIALIZED)", async () => {
    const api = deployingApi(await ctx.open());
    const flow = serializedFlow({
      environment: { type: "subprocess", schemaVersion: 1, labels: [], execArgv: ["--inspect"] },
    });
    assertError(await api.call("POST", "/api/flows", { flow }), 400, "INVALID_SERIALIZED", [
      "execArgv",
    ]);
    await assertNothingStored(api, flow);
    const good = serializedFlow({
      storage: localStorage(),
      location: "bundles/abc.mjs#x",
      environment: { type: "subprocess", schemaVersion: 1, labels: [], timeoutMs: 1000 },
    });
    assert.equal((await api.call("POST", "/api/flows", { flow: good })).status, 201);
  });

  test("module storage is 403 MODULE_STORAGE_NOT_ALLOWED unless the server allows it", async () => {
    const storage = {
      type: "module",
      schemaVersion: 1,
      module: "/tmp/anything.js",
      basedir: "/tmp",
      flows: {},
    };
    const refused = deployingApi(await ctx.open());
    const flow = serializedFlow({ storage, location: "module#x" });
    assertError(
      await refused.call("POST", "/api/flows", { flow }),
      403,
      "MODULE_STORAGE_NOT_ALLOWED",
      [`flow "${flow.name}"`, "module storage"],
    );
    const hint = (await refused.call("POST", "/api/flows", { flow })).body.error.hint as string;
    assert.match(hint, /--allow-module-storage/);
    await assertNothingStored(refused, flow);
    // Without the registries (an app made by hand), the default is the same.
    assertError(
      await testApi(await ctx.open()).call("POST", "/api/flows", { flow }),
      403,
      "MODULE_STORAGE_NOT_ALLOWED",
    );
    const allowed = deployingApi(await ctx.open(), true);
    assert.equal((await allowed.call("POST", "/api/flows", { flow })).status, 201);
  });
});

forEachDialect("registration: agent names belong to their token", (ctx) => {
  async function withTokens() {
    const store = await ctx.open();
    const api = testApi(store, { auth: { allowOpen: false, cacheMs: 0 } });
    const token = async (name: string, scope: "agent" | "admin") =>
      (await store.tokens.create({ name: `${name}-${randomUUID()}`, scopes: [scope] })).secret;
    const as = (secret: string) => ({ authorization: `Bearer ${secret}` });
    const register = (secret: string, name: string, labels: string[] = []) =>
      api.call("POST", "/api/agents", { name, labels, concurrency: 1 }, as(secret));
    return { store, api, token, register };
  }

  test("another agent token re-registering a name is 403 AGENT_NAME_TAKEN; the agent keeps its labels", async () => {
    const { token, register, api } = await withTokens();
    const [a, b] = [await token("a", "agent"), await token("b", "agent")];
    const name = `agent-${randomUUID()}`;
    const first = await register(a, name, ["gpu"]);
    assert.equal(first.status, 200, JSON.stringify(first.body));
    const taken = await register(b, name, ["evil"]);
    assertError(taken, 403, "AGENT_NAME_TAKEN", [JSON.stringify(name)]);
    assert.match(taken.body.error.hint, /--name/);
    const again = await register(a, name, ["gpu", "big"]);
    assert.equal(again.status, 200, "its own token may register it again");
    assert.equal(again.body.id, first.body.id);
    const agent = await api.call("GET", `/api/agents/${first.body.id}`, undefined, {
      authorization: `Bearer ${a}`,
    });
    assert.deepEqual(agent.body.labels, ["big", "gpu"], "the refused registration changed nothing");
  });

  test("an admin token takes a name over; a revoked owner's name is free", async () => {
    const { store, token, register } = await withTokens();
    const [a, b, admin] = [
      await token("a", "agent"),
      await token("b", "agent"),
      await token("adm", "admin"),
    ];
    const name = `agent-${randomUUID()}`;
    assert.equal((await register(a, name)).status, 200);
    assert.equal((await register(admin, name)).status, 200, "admin may take over");
    assertError(await register(a, name), 403, "AGENT_NAME_TAKEN");
    // The name now belongs to the admin token; once it is revoked, another token may claim it.
    const other = `agent-${randomUUID()}`;
    const c = await store.tokens.create({ name: `c-${randomUUID()}`, scopes: ["agent"] });
    assert.equal((await register(c.secret, other)).status, 200);
    await store.tokens.revoke(c.token.id);
    assert.equal((await register(b, other)).status, 200, "a revoked token owns nothing");
    assertError(await register(a, other), 403, "AGENT_NAME_TAKEN");
  });
});

forEachDialect("registration: agents on an open server", (ctx) => {
  test("on an open server (no tokens) nothing is bound: the same name registers again", async () => {
    const api = testApi(await ctx.open());
    const name = `agent-${randomUUID()}`;
    const body = { name, labels: [], concurrency: 1 };
    const first = await api.call("POST", "/api/agents", body);
    const second = await api.call("POST", "/api/agents", body);
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    assert.equal(second.body.id, first.body.id);
  });
});

forEachDialect("reserved parameter names over the API", (ctx) => {
  test("a run's parameters named __proto__, constructor or prototype are 400, never dropped", async () => {
    const api = testApi(await ctx.open());
    const flow = serializedFlow();
    assert.equal((await api.call("POST", "/api/flows", { flow })).status, 201);
    const proto = await api.call(
      "POST",
      "/api/flow-runs",
      `{"flowName": ${JSON.stringify(flow.name)}, "parameters": {"x": 2, "__proto__": {"polluted": true}}}`,
    );
    assertError(proto, 400, "INVALID_REQUEST", ['"__proto__"']);
    // The escaped spelling is the same key once parsed.
    const escaped = await api.call(
      "POST",
      "/api/flow-runs",
      `{"flowName": ${JSON.stringify(flow.name)}, "parameters": {"\\u005f_proto__": {"polluted": true}}}`,
    );
    assertError(escaped, 400, "INVALID_REQUEST", ['"__proto__"']);
    for (const name of ["constructor", "prototype"]) {
      const answer = await api.call("POST", "/api/flow-runs", {
        flowName: flow.name,
        parameters: { [name]: 1 },
      });
      assertError(answer, 400, "INVALID_REQUEST", [`parameters.${name}`]);
    }
    const runs = await api.call("GET", `/api/flow-runs?flowName=${flow.name}`);
    assert.deepEqual(runs.body.items, [], "no run was made");
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  });

  test("a serialized flow declaring a reserved parameter name is 400", async () => {
    const api = testApi(await ctx.open());
    for (const name of ["__proto__", "constructor", "prototype"]) {
      const flow = serializedFlow({
        parameters: [{ name, default: 1, required: false, validated: false }],
      });
      const answer = await api.call("POST", "/api/flows", JSON.stringify({ flow }));
      assertError(answer, 400, "INVALID_REQUEST", [name]);
      await assertNothingStored(api, flow);
    }
  });

  test("the stored parameter values of a run have no prototype to reach", async () => {
    const store = await ctx.open();
    const flow = serializedFlow();
    await store.flows.register(flow);
    await assert.rejects(
      store.runs.create({
        flowName: flow.name,
        parameters: JSON.parse('{"__proto__": {"polluted": true}}'),
      }),
      (error: unknown) => (error as { code?: string }).code === "INVALID_PARAMETER",
    );
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  });
});
