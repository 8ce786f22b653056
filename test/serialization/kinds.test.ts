// One descriptor per kind: a storage or environment kind's file declares its
// type, schema, constructors (from JSON and from command-line flags, with the
// flags' help) and capabilities; the registry builds every object of the kind
// through it, the CLI derives its flags from it, and deployment checks read its
// capabilities. A new kind is its file plus one registry line.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { z } from "zod";
import { createEnvironment, environmentRegistry } from "../../src/environments/registry.ts";
import { checkDeployment } from "../../src/serialization/deployment.ts";
import { TypeRegistry } from "../../src/serialization/registry.ts";
import { createMemoryStorage } from "../../src/storage/memory-storage.ts";
import { storageRegistry } from "../../src/storage/registry.ts";
import type { Storage, StorageCapabilities, StorageKind } from "../../src/storage/storage.ts";
import { runCli } from "../support/cli.ts";

/** The flags each shipped storage kind needs, so that one can be made from flags alone. */
const REQUIRED: Record<string, Record<string, unknown>> = {
  module: { module: "@acme/flows" },
  s3: { bucket: "flows" },
  git: { repo: "https://example.invalid/flows.git", path: "flows/etl.ts" },
  http: { url: "http://127.0.0.1:9/artifacts" },
};

describe("storage kinds", () => {
  test("every kind declares capabilities that its storages report, and flags that make one", () => {
    for (const type of storageRegistry.types()) {
      const capabilities = storageRegistry.capabilities(type);
      assert.ok(capabilities !== undefined, `${type} declares no capabilities`);
      const storage = storageRegistry.fromFlags(type, REQUIRED[type] ?? {});
      assert.equal(storage.type, type);
      assert.equal(storage.shareable, capabilities.shareable, `${type}: shareable`);
      assert.equal(storage.remote, capabilities.remote, `${type}: remote`);
      for (const [, key, flag] of storageRegistry.flags().filter(([t]) => t === type)) {
        if (flag.required !== true) continue;
        const { [key]: _dropped, ...without } = REQUIRED[type] ?? {};
        assert.throws(
          () => storageRegistry.fromFlags(type, without),
          { code: "USAGE", message: `${type} storage needs ${key}` },
          `${type} without ${key}`,
        );
      }
    }
    assert.equal(storageRegistry.capabilities("module")?.importsHostCode, true);
  });

  test("a new kind is one descriptor and one registry line: the CLI takes its flags and builds it", async () => {
    // A stand-in for a next kind (an OCI artifact store, say): its storage keeps flows in memory.
    const made: Record<string, unknown>[] = [];
    const standInKind: StorageKind<{ type: "oci"; schemaVersion: 1 }> = {
      type: "oci",
      schema: z.strictObject({ type: z.literal("oci"), schemaVersion: z.literal(1) }),
      create: () => createMemoryStorage({ name: "oci" }),
      capabilities: { shareable: false, remote: false },
      flags: {
        artifact: {
          flag: "--artifact <ref>",
          help: "the artifact holding the flows",
          required: true,
        },
      },
      fromFlags(options): Storage {
        made.push({ ...options });
        return createMemoryStorage({ name: `oci ${String(options.artifact)}` });
      },
    };
    storageRegistry.register(standInKind);

    const help = await runCli(["inspect", "--help"]);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /--artifact <ref>\s+oci: the artifact holding the flows/);
    assert.match(
      help.stdout,
      /memory \| local \| module \| s3 \| git \|\s+http \| container \| oci/,
    );

    const inspected = await runCli([
      "inspect",
      "examples/etl.ts",
      "--storage",
      "oci",
      "--artifact",
      "registry.example/flows:1",
    ]);
    assert.equal(inspected.code, 0, inspected.stderr);
    assert.deepEqual(made, [{ artifact: "registry.example/flows:1" }]);
    assert.match(JSON.parse(inspected.stdout).location, /#etl$/);

    const refused = await runCli(["inspect", "examples/etl.ts", "--storage", "oci"]);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /oci storage needs artifact/);
    const foreign = await runCli([
      "inspect",
      "examples/etl.ts",
      "--storage",
      "oci",
      "--artifact",
      "x",
      "--bucket",
      "b",
    ]);
    assert.equal(foreign.code, 2);
    assert.match(foreign.stderr, /oci storage has no option bucket/);
  });

  test("a kind whose capabilities say it imports host code is refused unless allowed", () => {
    const registry = new TypeRegistry<Storage, StorageCapabilities>("storage");
    registry.register({
      type: "plugin",
      schema: z.strictObject({ type: z.literal("plugin"), schemaVersion: z.literal(1) }),
      create: () => createMemoryStorage(),
      capabilities: { shareable: true, remote: true, importsHostCode: true },
    });
    const deployment = { name: "f", storage: { type: "plugin", schemaVersion: 1 } };
    assert.throws(() => checkDeployment(deployment, { storage: registry }), {
      code: "MODULE_STORAGE_NOT_ALLOWED",
      message: /flow "f" uses plugin storage/,
    });
    checkDeployment(deployment, { storage: registry, allowModuleStorage: true });
    // Module storage keeps its refusal with or without a registry.
    const moduleDeployment = {
      name: "f",
      storage: { type: "module", schemaVersion: 1, module: "x", basedir: "/", flows: {} },
    };
    assert.throws(() => checkDeployment(moduleDeployment), { code: "MODULE_STORAGE_NOT_ALLOWED" });
    assert.throws(() => checkDeployment(moduleDeployment, { storage: storageRegistry }), {
      code: "MODULE_STORAGE_NOT_ALLOWED",
    });
  });
});

describe("environment kinds", () => {
  test("every kind declares capabilities that its environments report, and is made from flags", () => {
    for (const type of environmentRegistry.types()) {
      const capabilities = environmentRegistry.capabilities(type);
      assert.ok(capabilities !== undefined, `${type} declares no capabilities`);
      const environment = createEnvironment(type);
      assert.equal(environment.type, type);
      assert.equal(environment.storageNeeds, capabilities.storageNeeds, `${type}: storageNeeds`);
      assert.equal(
        environment.retriesElsewhere ?? false,
        capabilities.retriesElsewhere,
        `${type}: retriesElsewhere`,
      );
    }
  });
});
