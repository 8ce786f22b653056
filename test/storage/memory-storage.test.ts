// Memory storage: the conformance suite (without the cases that need another
// process, which memory cannot serve) and what memory storage says about it.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { createMemoryStorage } from "../../src/storage/memory-storage.ts";
import { storageFromJSON } from "../../src/storage/registry.ts";
import { conformanceFlow } from "../fixtures/storage/conformance-flows.ts";
import { expectCode, runStorageConformance } from "./storage.case.ts";

const NOT_ANOTHER_PROCESS =
  "memory storage holds flow objects in the process that added them; no other process can load them";

runStorageConformance("memory", () => createMemoryStorage({ name: `memory-${randomUUID()}` }), {
  crossProcess: false,
  skip: {
    "a storage rebuilt from JSON loads the flow": `${NOT_ANOTHER_PROCESS} (JSON keeps the flow names, not the code)`,
    "a storage rebuilt from JSON runs the flow in a child process": NOT_ANOTHER_PROCESS,
  },
});

describe("memory storage", () => {
  test("getEnvRunner explains that another process cannot load the flow", async () => {
    const storage = createMemoryStorage();
    const location = storage.addFlow(conformanceFlow);
    await storage.build();
    const error = await expectCode(
      () => storage.getEnvRunner(location),
      "STORAGE_NOT_SHAREABLE",
      "memory getEnvRunner",
    );
    assert.match(error.message, /memory storage/);
    assert.match(error.message, /another process cannot load/);
    assert.match(error.hint ?? "", /local, module/);
    assert.equal(storage.shareable, false);
    assert.equal(storage.remote, false);
  });

  test("a memory storage rebuilt from JSON lists the flows but says it cannot load them", async () => {
    const storage = createMemoryStorage({ name: "held" });
    const location = storage.addFlow(conformanceFlow);
    await storage.build();
    const rebuilt = storageFromJSON(storage.toJSON());
    assert.deepEqual(rebuilt.toJSON(), storage.toJSON());
    assert.equal(rebuilt.contains(conformanceFlow), true);
    const error = await expectCode(
      () => rebuilt.getRunner(location),
      "STORAGE_FLOW_MISSING",
      "getRunner of a rebuilt memory storage",
    );
    assert.match(error.message, /not held in this process/);
    assert.match(error.hint ?? "", /another process|local, module/);
  });

  test("the location is memory#<flow name>, and the default name is memory", () => {
    const storage = createMemoryStorage();
    assert.equal(storage.name, "memory");
    assert.equal(storage.addFlow(conformanceFlow), `memory#${conformanceFlow.name}`);
    assert.deepEqual(storage.labels, []);
    assert.deepEqual(storage.toJSON(), {
      type: "memory",
      schemaVersion: 1,
      name: "memory",
      flows: { [conformanceFlow.name]: `memory#${conformanceFlow.name}` },
    });
  });
});
