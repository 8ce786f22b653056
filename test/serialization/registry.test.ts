// The type registry that turns `{ type, … }` JSON back into storages (and
// later environments), and the rule that serialized configuration never holds
// a credential: only `env:NAME` references to where a secret comes from.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { join } from "node:path";
import { describe, test } from "node:test";
import { z } from "zod";
import {
  createLocalStorage,
  createMemoryStorage,
  createModuleStorage,
  flow,
  storageFromJSON,
  storageRegistry,
  task,
} from "../../src/index.ts";
import {
  assertNoCredentials,
  resolveSecretReference,
  TypeRegistry,
} from "../../src/serialization/index.ts";
import { conformanceFlow } from "../fixtures/storage/conformance-flows.ts";
import { CONFORMANCE_MODULE, expectCode, repoRoot, withTmp } from "../storage/storage.case.ts";

const localJSON = (extra: Record<string, unknown> = {}) => ({
  type: "local",
  schemaVersion: 1,
  directory: "/srv/weft/flows",
  hostnameLabel: true,
  flows: {},
  ...extra,
});

describe("storage registry", () => {
  test("an unknown type is refused with UNKNOWN_TYPE listing every known type", async () => {
    const error = await expectCode(
      () => storageFromJSON({ type: "ftp", schemaVersion: 1 }),
      "UNKNOWN_TYPE",
      "ftp",
    );
    assert.match(error.message, /"ftp"/);
    for (const known of ["memory", "local", "module"]) {
      assert.ok(storageRegistry.types().includes(known), known);
    }
    for (const known of storageRegistry.types()) {
      assert.ok(error.message.includes(known), `the message lists ${known}: ${error.message}`);
    }
  });

  test("a missing or non-string type is refused with INVALID_SERIALIZED naming .type", async () => {
    for (const json of [{ schemaVersion: 1 }, { type: 7 }, null, "local"]) {
      const error = await expectCode(
        () => storageFromJSON(json),
        "INVALID_SERIALIZED",
        JSON.stringify(json),
      );
      assert.match(error.message, /storage\.type/);
      assert.match(error.message, /known: .*local/);
    }
  });

  test("a malformed field is refused with INVALID_SERIALIZED naming the field path", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [localJSON({ directory: 3 }), /storage\.directory/],
      [localJSON({ directory: "" }), /storage\.directory/],
      [localJSON({ hostnameLabel: "yes" }), /storage\.hostnameLabel/],
      [localJSON({ flows: { etl: 3 } }), /storage\.flows\.etl/],
      [localJSON({ bucket: "b" }), /bucket/],
      [{ type: "module", schemaVersion: 1, basedir: "/x", flows: {} }, /storage\.module/],
    ];
    for (const [json, path] of cases) {
      const error = await expectCode(
        () => storageFromJSON(json),
        "INVALID_SERIALIZED",
        JSON.stringify(json),
      );
      assert.match(error.message, path);
    }
  });

  test("a schemaVersion newer than known is refused with SCHEMA_VERSION_UNSUPPORTED", async () => {
    const error = await expectCode(
      () => storageFromJSON(localJSON({ schemaVersion: 2 })),
      "SCHEMA_VERSION_UNSUPPORTED",
      "local v2",
    );
    assert.match(error.hint ?? "", /upgrade/);
  });

  test("a type registered twice is refused", async () => {
    const registry = new TypeRegistry<string>("storage");
    const entry = {
      type: "x",
      schema: z.strictObject({ type: z.literal("x") }),
      create: () => "x",
    };
    registry.register(entry);
    await expectCode(() => registry.register(entry), "INVALID_SERIALIZED", "twice");
  });

  test("the registry's JSON Schema names every registered kind", () => {
    const text = JSON.stringify(storageRegistry.jsonSchema());
    for (const type of storageRegistry.types()) {
      assert.ok(text.includes(`"const":"${type}"`), type);
    }
  });
});

describe("credentials in serialized configuration", () => {
  const SECRET = `hunter2-${randomUUID()}`;

  test("a credential-looking key with a literal value is refused, naming the field but not the value", async () => {
    for (const [json, field] of [
      [localJSON({ secretKey: SECRET }), "storage.secretKey"],
      [localJSON({ password: SECRET }), "storage.password"],
      [localJSON({ extra: { apiKey: SECRET } }), "storage.extra.apiKey"],
      [localJSON({ tokens: ["ok", SECRET] }), "storage.tokens[0]"],
      [localJSON({ session_key: SECRET }), "storage.session_key"],
    ] as const) {
      const error = await expectCode(() => storageFromJSON(json), "CREDENTIAL_IN_CONFIG", field);
      assert.ok(error.message.includes(field), `${field}: ${error.message}`);
      assert.ok(!error.message.includes(SECRET), "the message never shows the value");
      assert.ok(!(error.hint ?? "").includes(SECRET), "the hint never shows the value");
      assert.match(error.hint ?? "", /env:NAME/);
    }
  });

  test("a value shaped like an AWS access key is refused whatever its field", async () => {
    const key = "AKIAIOSFODNN7EXAMPLE";
    for (const json of [
      localJSON({ name: key }),
      localJSON({ directory: "ASIAABCDEFGHIJKLMNOP" }),
    ]) {
      const error = await expectCode(() => storageFromJSON(json), "CREDENTIAL_IN_CONFIG", "AKIA");
      assert.match(error.message, /storage\.(name|directory)/);
      assert.ok(!error.message.includes(key) && !error.message.includes("ABCDEFGHIJKLMNOP"));
    }
  });

  test("a storage whose own JSON would hold a credential refuses to serialize", async () => {
    const storage = createMemoryStorage({ name: "AKIAIOSFODNN7EXAMPLE" });
    const error = await expectCode(() => storage.toJSON(), "CREDENTIAL_IN_CONFIG", "toJSON");
    assert.ok(!error.message.includes("AKIAIOSFODNN7EXAMPLE"));
  });

  test("env:NAME references are accepted where a secret goes", () => {
    assertNoCredentials(
      { secretAccessKey: "env:AWS_SECRET_ACCESS_KEY", nested: { apiKey: "env:_KEY_2" } },
      "config",
    );
    // Through a registry whose kind has a secret field.
    const registry = new TypeRegistry<{ secret: string }>("storage");
    registry.register({
      type: "vault",
      schema: z.strictObject({
        type: z.literal("vault"),
        schemaVersion: z.literal(1),
        secretKey: z.string(),
      }),
      create: (json) => ({ secret: json.secretKey }),
    });
    assert.deepEqual(
      registry.fromJSON({ type: "vault", schemaVersion: 1, secretKey: "env:VAULT_KEY" }),
      { secret: "env:VAULT_KEY" },
    );
    assert.throws(
      () => registry.fromJSON({ type: "vault", schemaVersion: 1, secretKey: "s3cr3t" }),
      (e: Error & { code?: string }) => e.code === "CREDENTIAL_IN_CONFIG",
    );
  });

  test("resolveSecretReference reads env:NAME, and refuses anything else", async () => {
    assert.equal(resolveSecretReference("env:MY_TOKEN", { MY_TOKEN: "v" }), "v");
    assert.equal(resolveSecretReference("env:UNSET_ONE", {}), undefined);
    for (const bad of ["MY_TOKEN", "env:", "env:1BAD", "env:A-B", "ENV:A"]) {
      const error = await expectCode(
        () => resolveSecretReference(bad, {}),
        "CREDENTIAL_IN_CONFIG",
        bad,
      );
      assert.match(error.message, /env:NAME/);
    }
  });

  test("a secret set in process.env never appears in toJSON() or serialize()", () =>
    withTmp("secret-json", async (tmp) => {
      const names = ["WEFT_TEST_SECRET_TOKEN", "AWS_SECRET_ACCESS_KEY", "WEFT_API_TOKEN"];
      const saved = names.map((n) => process.env[n]);
      for (const n of names) process.env[n] = SECRET;
      try {
        const storages = [
          createLocalStorage({ directory: join(tmp, "flows"), cacheDir: join(tmp, "cache") }),
          createMemoryStorage(),
          createModuleStorage({ module: CONFORMANCE_MODULE, basedir: repoRoot }),
        ];
        for (const storage of storages) {
          const json = await conformanceFlow.serialize({ build: true, storage });
          assert.ok(!JSON.stringify(json).includes(SECRET), storage.type);
          assert.ok(!JSON.stringify(storage.toJSON()).includes(SECRET), storage.type);
          const location = storage.flows[conformanceFlow.name]!;
          if (storage.shareable) {
            const runner = storage.getEnvRunner(location);
            assert.ok(!JSON.stringify(runner.env).includes(SECRET), `${storage.type} env runner`);
          }
        }
      } finally {
        names.forEach((n, i) => {
          if (saved[i] === undefined) delete process.env[n];
          else process.env[n] = saved[i];
        });
      }
    }));

  test("a flow whose name contains token, auth or secret can be stored", async () => {
    const noop = task("noop", (x: number) => x);
    for (const name of ["refresh-token", "oauth-sync", "author-report"]) {
      const f = flow(name, () => noop(1));
      const storage = createMemoryStorage();
      const json = await f.serialize({ build: true, storage });
      assert.equal(json.location, `memory#${name}`);
      assert.deepEqual(storageFromJSON(storage.toJSON()).toJSON(), storage.toJSON());
    }
  });

  test("values under a credential-looking object are refused too", async () => {
    for (const json of [
      { credentials: { user: "bob", value: SECRET } },
      { auth: { pass: SECRET } },
    ]) {
      const error = await expectCode(
        () => assertNoCredentials(json, "config"),
        "CREDENTIAL_IN_CONFIG",
        JSON.stringify(Object.keys(json)),
      );
      assert.ok(!error.message.includes(SECRET));
    }
  });
});
