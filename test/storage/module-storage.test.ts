// Module storage: flows whose code is already installed where they run. The
// conformance suite (across processes too: `weft execute` imports the module
// again), then what only module storage does.
import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { flow, task } from "../../src/index.ts";
import { createModuleStorage } from "../../src/storage/module-storage.ts";
import { storageFromJSON } from "../../src/storage/registry.ts";
import { conformanceFlow } from "../fixtures/storage/conformance-flows.ts";
import { CONFORMANCE_MODULE, expectCode, repoRoot, runStorageConformance } from "./storage.case.ts";

runStorageConformance("module", () =>
  createModuleStorage({ module: CONFORMANCE_MODULE, basedir: repoRoot }),
);

const noop = task("noop", (x: number) => x);

describe("module storage", () => {
  test("build() fails with STORAGE_FLOW_MISSING when the module lacks the flow", async () => {
    const storage = createModuleStorage({ module: CONFORMANCE_MODULE, basedir: repoRoot });
    const stranger = flow("not-in-the-module", () => noop(1));
    storage.addFlow(conformanceFlow);
    const location = storage.addFlow(stranger);
    const error = await expectCode(() => storage.build(), "STORAGE_FLOW_MISSING", "build()");
    assert.match(error.message, /not-in-the-module/);
    assert.ok(error.message.includes(CONFORMANCE_MODULE), error.message);
    // Still not built: loading it is refused as such.
    await expectCode(() => storage.getRunner(location), "STORAGE_NOT_BUILT", "getRunner");
  });

  test("a flow module that throws at import shows its own error (build and load)", async () => {
    const module = "./test/fixtures/storage/throws-at-import.ts";
    const storage = createModuleStorage({ module, basedir: repoRoot });
    const location = storage.addFlow(flow("storage-throws-at-import", () => noop(1)));
    const error = await expectCode(
      () => storage.build(),
      "FLOW_MODULE_IMPORT_FAILED",
      "build() of a module that throws",
    );
    assert.match(error.message, /storage fixture exploded at import \(marker 7f3a\)/);
    assert.ok(error.message.includes(module), error.message);
    const rebuilt = storageFromJSON(storage.toJSON());
    const loadError = await expectCode(
      () => rebuilt.getRunner(location),
      "FLOW_MODULE_IMPORT_FAILED",
      "getRunner of a module that throws",
    );
    assert.match(loadError.message, /marker 7f3a/);
  });

  test("a package that cannot be resolved is refused with FLOW_MODULE_NOT_FOUND", async () => {
    const storage = createModuleStorage({
      module: "@weft-test/no-such-package",
      basedir: repoRoot,
    });
    storage.addFlow(conformanceFlow);
    const error = await expectCode(
      () => storage.build(),
      "FLOW_MODULE_NOT_FOUND",
      "build() of an unknown package",
    );
    assert.match(error.message, /@weft-test\/no-such-package/);
    assert.match(error.hint ?? "", /install/);
  });

  test("a location naming another module is refused with STORAGE_LOCATION_INVALID", async () => {
    const storage = createModuleStorage({ module: CONFORMANCE_MODULE, basedir: repoRoot });
    storage.addFlow(conformanceFlow);
    await storage.build();
    await expectCode(
      () => storage.getRunner(`./test/fixtures/storage/other-flow.ts#${conformanceFlow.name}`),
      "STORAGE_LOCATION_INVALID",
      "getRunner of another module",
    );
  });

  test("the JSON names the module and its base directory; labels are empty", () => {
    const storage = createModuleStorage({ module: CONFORMANCE_MODULE, basedir: repoRoot });
    const location = storage.addFlow(conformanceFlow);
    // The specifier is in the JSON; the location only names the flow (a specifier may be an absolute path).
    assert.equal(location, `module#${conformanceFlow.name}`);
    assert.deepEqual(storage.toJSON(), {
      type: "module",
      schemaVersion: 1,
      module: CONFORMANCE_MODULE,
      basedir: resolve(repoRoot),
      flows: { [conformanceFlow.name]: location },
    });
    assert.deepEqual(storage.labels, []);
    assert.equal(storage.remote, true);
  });

  test("a module storage needs a module", async () => {
    await expectCode(
      () => createModuleStorage({ module: "" }),
      "INVALID_FLOW_OPTIONS",
      "createModuleStorage without a module",
    );
  });

  test("a module given as an absolute file path loads", async () => {
    const absolute = join(repoRoot, CONFORMANCE_MODULE);
    const storage = createModuleStorage({ module: absolute });
    const location = storage.addFlow(conformanceFlow);
    await storage.build();
    const run = await (await storage.getRunner(location)).run();
    assert.deepEqual(run.outputs, { total: 84 });
  });
});
