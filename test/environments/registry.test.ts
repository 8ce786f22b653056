// The environment registry (`type` → schema and constructor), createEnvironment
// (the command line's door) and the environment/storage pairing, which is
// checked from capabilities when a flow is serialized. No process is started.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ENVIRONMENT_TYPES } from "../../src/environments/environment.ts";
import { createLocalEnvironment } from "../../src/environments/local-environment.ts";
import {
  createEnvironment,
  environmentFromJSON,
  environmentRegistry,
} from "../../src/environments/registry.ts";
import { createSubprocessEnvironment } from "../../src/environments/subprocess/subprocess-environment.ts";
import { checkPairing } from "../../src/serialization/deployment.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import { createMemoryStorage } from "../../src/storage/memory-storage.ts";
import { createModuleStorage } from "../../src/storage/module-storage.ts";
import { greetFlow } from "../fixtures/environments/env-flows.ts";
import { expectCode, FLOWS_MODULE, repoRoot } from "./environment-helpers.ts";

describe("environment registry", () => {
  test("every kind weft ships is registered", () => {
    assert.deepEqual([...environmentRegistry.types()].sort(), [...ENVIRONMENT_TYPES].sort());
  });

  test("an unknown type is refused with UNKNOWN_TYPE, listing the known ones", async () => {
    const error = await expectCode(
      () => environmentFromJSON({ type: "nomad", schemaVersion: 1, labels: [] }),
      "UNKNOWN_TYPE",
      "environment type nomad",
    );
    assert.ok(error.message.includes('"nomad"'), error.message);
    for (const known of ENVIRONMENT_TYPES) assert.ok(error.message.includes(known), error.message);
  });

  test("JSON without a type string is refused, listing the known types", async () => {
    for (const json of [{}, { type: 7 }, null, "local", []]) {
      const error = await expectCode(
        () => environmentFromJSON(json),
        "INVALID_SERIALIZED",
        JSON.stringify(json),
      );
      for (const known of ENVIRONMENT_TYPES)
        assert.ok(error.message.includes(known), error.message);
    }
  });

  test("a malformed field is refused, naming it", async () => {
    const base = { type: "subprocess", schemaVersion: 1, labels: [] };
    for (const [json, field] of [
      [{ ...base, timeoutMs: -5 }, "timeoutMs"],
      [{ ...base, heapLimitMb: "512" }, "heapLimitMb"],
      [{ ...base, executor: "gpu" }, "executor"],
      [{ ...base, env: { "NOT-A-NAME": "env:X" } }, "env"],
      [{ ...base, labels: "gpu" }, "labels"],
      [{ type: "local", schemaVersion: 1 }, "labels"],
      [{ type: "local", schemaVersion: 1, labels: [], timeoutMs: 5 }, "timeoutMs"],
    ] as const) {
      const error = await expectCode(
        () => environmentFromJSON(json),
        "INVALID_SERIALIZED",
        JSON.stringify(json),
      );
      assert.ok(error.message.includes(field), `names ${field}: ${error.message}`);
    }
  });

  test("a newer schema version is refused with an upgrade hint", async () => {
    const error = await expectCode(
      () => environmentFromJSON({ type: "local", schemaVersion: 99, labels: [] }),
      "SCHEMA_VERSION_UNSUPPORTED",
      "schema version 99",
    );
    assert.match(error.hint ?? "", /upgrade/);
  });

  test("every option of each kind survives toJSON → JSON text → environmentFromJSON", () => {
    const environments = [
      createLocalEnvironment(),
      createLocalEnvironment({ labels: ["a", "b"], executor: "worker-threads" }),
      createSubprocessEnvironment(),
      createSubprocessEnvironment({
        labels: ["big"],
        executor: { type: "worker-threads", maxWorkers: 2 },
        heapLimitMb: 512,
        timeoutMs: 60_000,
        env: { API_URL: "env:WEFT_API_URL" },
        cwd: "/srv/flows",
        killGraceMs: 1_000,
      }),
    ];
    for (const environment of environments) {
      const json = environment.toJSON();
      const rebuilt = environmentFromJSON(JSON.parse(JSON.stringify(json)));
      assert.deepEqual(rebuilt.toJSON(), json);
      assert.equal(rebuilt.type, environment.type);
      assert.equal(rebuilt.storageNeeds, environment.storageNeeds);
    }
  });
});

describe("createEnvironment", () => {
  test("makes each kind from flag options", () => {
    assert.equal(createEnvironment("local", { executor: "serial" }).type, "local");
    const sub = createEnvironment("subprocess", { heapLimitMb: 256, timeoutMs: 1_000 });
    assert.equal(sub.type, "subprocess");
    assert.equal(sub.toJSON().heapLimitMb, 256);
    assert.equal(sub.toJSON().timeoutMs, 1_000);
  });

  test("an unknown kind is refused with UNKNOWN_TYPE, listing the known ones", async () => {
    const error = await expectCode(
      () => createEnvironment("docker"),
      "UNKNOWN_TYPE",
      "kind docker",
    );
    assert.ok(error.message.includes("docker"), error.message);
    for (const known of ENVIRONMENT_TYPES) assert.ok(error.message.includes(known), error.message);
  });
});

describe("environment and storage pairing", () => {
  const memory = () => createMemoryStorage();
  const local = () => createLocalStorage({ directory: "/tmp/weft-pairing-never-written" });
  const module = () => createModuleStorage({ module: `./${FLOWS_MODULE}`, basedir: repoRoot });

  test("each pair is judged from storageNeeds and the storage's capabilities", () => {
    const fits: [string, () => ReturnType<typeof memory>, string, boolean][] = [
      ["local", memory, "memory", true],
      ["local", local, "local", true],
      ["local", module, "module", true],
      ["subprocess", memory, "memory", false],
      ["subprocess", local, "local", true],
      ["subprocess", module, "module", true],
    ];
    for (const [kind, makeStorage, storageKind, ok] of fits) {
      const environment = createEnvironment(kind);
      const storage = makeStorage();
      const check = () => checkPairing(environment, storage);
      if (ok) assert.doesNotThrow(check, `${kind}+${storageKind}`);
      else assert.throws(check, { code: "STORAGE_NOT_SHAREABLE" }, `${kind}+${storageKind}`);
    }
  });

  test("flow.serialize refuses an unfit pair with STORAGE_NOT_SHAREABLE naming both", async () => {
    const error = await expectCode(
      () => greetFlow.serialize({ storage: memory(), environment: createSubprocessEnvironment() }),
      "STORAGE_NOT_SHAREABLE",
      "subprocess + memory",
    );
    assert.match(error.message, /subprocess environment/);
    assert.match(error.message, /memory storage/);
    assert.ok(error.hint, "with a hint naming storages that fit");
    assert.match(error.hint, /local/);
  });

  test("flow.serialize({ build: true }) refuses an unfit pair before building anything", async () => {
    const storage = memory();
    await expectCode(
      () =>
        greetFlow.serialize({ storage, environment: createSubprocessEnvironment(), build: true }),
      "STORAGE_NOT_SHAREABLE",
      "subprocess + memory, build",
    );
    assert.equal(storage.contains(greetFlow), false, "nothing was added to the storage");
  });

  test("flow.serialize of a fit pair carries the environment's JSON and labels", () => {
    const environment = createSubprocessEnvironment({ labels: ["big-memory"], heapLimitMb: 2048 });
    const json = greetFlow.serialize({ storage: module(), environment });
    assert.deepEqual(json.environment, environment.toJSON());
    const labels = json.labels as unknown as string[];
    assert.ok(labels.includes("big-memory"), `labels ${JSON.stringify(labels)}`);
  });
});
