// Local storage: bundles in a directory. The conformance suite, then what only
// a directory of bundles does: the host name label, symlinks that lead out of
// the directory, bundles changed on disk, and the bundler's refusals.
import assert from "node:assert/strict";
import {
  copyFile,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  symlink,
  writeFile,
} from "node:fs/promises";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import { describe, test } from "node:test";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import { storageFromJSON } from "../../src/storage/registry.ts";
import { conformanceFlow } from "../fixtures/storage/conformance-flows.ts";
import { relativeImportFlow } from "../fixtures/storage/relative-import.ts";
import { hiddenFlow } from "../fixtures/storage/unexported-flow.ts";
import { expectCode, repoRoot, runStorageConformance, withTmp } from "./storage.case.ts";

runStorageConformance("local", ({ tmp }) =>
  createLocalStorage({ directory: join(tmp, "flows"), cacheDir: join(tmp, "cache") }),
);

/** A local storage in `tmp` (bundles in tmp/flows, cache in tmp/cache). */
function localIn(tmp: string, options: { hostnameLabel?: boolean; cache?: string } = {}) {
  return createLocalStorage({
    directory: join(tmp, "flows"),
    cacheDir: join(tmp, options.cache ?? "cache"),
    ...(options.hostnameLabel === undefined ? {} : { hostnameLabel: options.hostnameLabel }),
  });
}

/** Builds the conformance flow into a local storage in `tmp`. */
async function builtIn(tmp: string) {
  const storage = localIn(tmp);
  const location = storage.addFlow(conformanceFlow);
  await storage.build();
  const artifact = location.slice(0, location.indexOf("#"));
  return { storage, location, artifact };
}

const exists = (path: string) =>
  lstat(path).then(
    () => true,
    () => false,
  );

describe("local storage: labels", () => {
  test("labels runs with this host's name by default", () =>
    withTmp("local-label", async (tmp) => {
      const storage = localIn(tmp);
      assert.deepEqual(storage.labels, [hostname()]);
      assert.equal(storage.toJSON().hostnameLabel, true);
    }));

  test("hostnameLabel: false drops the label, and the JSON keeps it off", () =>
    withTmp("local-nolabel", async (tmp) => {
      const storage = localIn(tmp, { hostnameLabel: false });
      assert.deepEqual(storage.labels, []);
      const json = storage.toJSON();
      assert.equal(json.hostnameLabel, false);
      const rebuilt = storageFromJSON(json);
      assert.deepEqual(rebuilt.labels, []);
      assert.deepEqual(rebuilt.toJSON(), json);
    }));

  test("a built flow serializes with the host name among its labels", () =>
    withTmp("local-serialize", async (tmp) => {
      const storage = localIn(tmp);
      const json = await conformanceFlow.serialize({ build: true, storage, labels: ["gpu"] });
      assert.deepEqual(json.labels, ["gpu", hostname()].sort());
      assert.equal(json.location, storage.flows[conformanceFlow.name]);
    }));
});

describe("local storage: the directory", () => {
  test("the directory defaults to $WEFT_HOME/flows, and a relative directory is made absolute", () =>
    withTmp("local-home", async (tmp) => {
      const previous = process.env.WEFT_HOME;
      process.env.WEFT_HOME = tmp;
      try {
        const storage = createLocalStorage({ cacheDir: join(tmp, "cache") });
        assert.equal(storage.toJSON().directory, join(tmp, "flows"));
        assert.equal(storage.name, join(tmp, "flows"));
      } finally {
        if (previous === undefined) delete process.env.WEFT_HOME;
        else process.env.WEFT_HOME = previous;
      }
      const relative = createLocalStorage({ directory: "some/where", cacheDir: join(tmp, "c") });
      assert.equal(relative.toJSON().directory, join(process.cwd(), "some/where"));
    }));

  test("build() writes one <sha256>.mjs per module, whose code is self-contained but for weft", () =>
    withTmp("local-files", async (tmp) => {
      const { artifact } = await builtIn(tmp);
      assert.match(artifact, /^[0-9a-f]{64}\.mjs$/);
      assert.deepEqual(await readdir(join(tmp, "flows")), [artifact]);
      const code = await readFile(join(tmp, "flows", artifact), "utf8");
      assert.match(code, /from "weftflow"|from 'weftflow'/, "weft stays external");
      assert.doesNotMatch(code, /src\/index\.ts|src\/core\//, "weft's source is not inside");
    }));

  test("loading verifies the bundle into the cache and links the cache to this weft", () =>
    withTmp("local-cache", async (tmp) => {
      const { storage, location, artifact } = await builtIn(tmp);
      const fresh = localIn(tmp, { cache: "cache2" });
      await fresh.getRunner(location);
      assert.equal(
        await readFile(join(tmp, "cache2", "bundles", artifact), "utf8"),
        await readFile(join(tmp, "flows", artifact), "utf8"),
      );
      const link = await readlink(join(tmp, "cache2", "node_modules", "weftflow"));
      assert.equal(resolve(link), resolve(repoRoot));
      assert.ok(storage.contains(conformanceFlow));
    }));

  test("a bundle that is not in the directory fails with STORAGE_FLOW_MISSING naming it", () =>
    withTmp("local-missing", async (tmp) => {
      const { storage } = await builtIn(tmp);
      const absent = `${"0".repeat(64)}.mjs`;
      const error = await expectCode(
        () => storage.getRunner(`${absent}#${conformanceFlow.name}`),
        "STORAGE_FLOW_MISSING",
        "an absent bundle",
      );
      assert.ok(error.message.includes(absent), error.message);
      assert.ok(error.message.includes(join(tmp, "flows")), error.message);
    }));

  test("an artifact that is not <sha256>.mjs fails with STORAGE_LOCATION_INVALID", () =>
    withTmp("local-name", async (tmp) => {
      const { storage } = await builtIn(tmp);
      for (const artifact of ["flow.mjs", "sub/abc.mjs", `${"a".repeat(64)}.js`]) {
        await expectCode(
          () => storage.getRunner(`${artifact}#${conformanceFlow.name}`),
          "STORAGE_LOCATION_INVALID",
          artifact,
        );
      }
    }));

  test("a symlink inside the directory that points outside fails with STORAGE_LOCATION_ESCAPE", () =>
    withTmp("local-symlink", async (tmp) => {
      // A genuine bundle, kept outside the storage: only the escape check can refuse it.
      const { artifact } = await builtIn(join(tmp, "elsewhere"));
      const storage = localIn(join(tmp, "victim"));
      await mkdir(join(tmp, "victim", "flows"), { recursive: true });
      await symlink(
        join(tmp, "elsewhere", "flows", artifact),
        join(tmp, "victim", "flows", artifact),
      );
      const error = await expectCode(
        () => storage.getRunner(`${artifact}#${conformanceFlow.name}`),
        "STORAGE_LOCATION_ESCAPE",
        "a symlink leading out",
      );
      assert.match(error.message, /outside the storage directory/);
      assert.equal(await exists(join(tmp, "victim", "cache", "bundles", artifact)), false);
    }));

  test("a symlinked storage directory itself is followed (the root is resolved first)", () =>
    withTmp("local-rootlink", async (tmp) => {
      const { location } = await builtIn(join(tmp, "real"));
      await symlink(join(tmp, "real", "flows"), join(tmp, "alias"));
      const storage = createLocalStorage({
        directory: join(tmp, "alias"),
        cacheDir: join(tmp, "cache"),
      });
      const run = await (await storage.getRunner(location)).run();
      assert.deepEqual(run.outputs, { total: 84 });
    }));
});

describe("local storage: bundles changed on disk", () => {
  test("a bundle tampered in the directory (cache emptied) fails with STORAGE_HASH_MISMATCH", () =>
    withTmp("local-tamper", async (tmp) => {
      const { location, artifact } = await builtIn(tmp);
      const path = join(tmp, "flows", artifact);
      await writeFile(path, `${await readFile(path, "utf8")}\nglobalThis.tampered = true;\n`);
      // A fresh cache: the bundle must come from the directory again.
      const reader = localIn(tmp, { cache: "empty-cache" });
      const error = await expectCode(
        () => reader.getRunner(location),
        "STORAGE_HASH_MISMATCH",
        "a tampered bundle",
      );
      assert.ok(error.message.includes(artifact), error.message);
      assert.match(error.hint ?? "", /build the flow again/);
      assert.equal(await exists(join(tmp, "empty-cache", "bundles", artifact)), false);
      assert.equal((globalThis as { tampered?: boolean }).tampered, undefined, "never imported");
    }));

  test("a corrupt cache entry is removed, and the bundle is verified again from the directory", () =>
    withTmp("local-cache-corrupt", async (tmp) => {
      const { location, artifact } = await builtIn(tmp);
      const reader = localIn(tmp, { cache: "reader-cache" });
      const cached = join(tmp, "reader-cache", "bundles", artifact);
      await mkdir(join(tmp, "reader-cache", "bundles"), { recursive: true });
      await writeFile(cached, "globalThis.corruptCache = true;\n");
      const run = await (await reader.getRunner(location)).run();
      assert.deepEqual(run.outputs, { total: 84 });
      assert.equal(
        await readFile(cached, "utf8"),
        await readFile(join(tmp, "flows", artifact), "utf8"),
      );
      assert.equal((globalThis as { corruptCache?: boolean }).corruptCache, undefined);
    }));

  test("tampered in the cache and in the directory: STORAGE_HASH_MISMATCH, corrupt cache entry removed", () =>
    withTmp("local-both-corrupt", async (tmp) => {
      const { location, artifact } = await builtIn(tmp);
      await writeFile(join(tmp, "flows", artifact), "globalThis.corruptBoth = 1;\n");
      const reader = localIn(tmp, { cache: "reader-cache" });
      const cached = join(tmp, "reader-cache", "bundles", artifact);
      await mkdir(join(tmp, "reader-cache", "bundles"), { recursive: true });
      await writeFile(cached, "globalThis.corruptBoth = 2;\n");
      await expectCode(() => reader.getRunner(location), "STORAGE_HASH_MISMATCH", "both corrupt");
      assert.equal(await exists(cached), false, "the corrupt cache entry is removed");
      assert.equal((globalThis as { corruptBoth?: number }).corruptBoth, undefined);
    }));

  test("a bundle changed after it was cached is not seen: the cache holds the verified copy", () =>
    withTmp("local-cached-first", async (tmp) => {
      const { storage, location, artifact } = await builtIn(tmp);
      await copyFile(join(tmp, "flows", artifact), join(tmp, "original.mjs"));
      await writeFile(join(tmp, "flows", artifact), "globalThis.afterCache = true;\n");
      // build() put the verified bundle in this storage's cache.
      const run = await (await storage.getRunner(location)).run();
      assert.deepEqual(run.outputs, { total: 84 });
      assert.equal((globalThis as { afterCache?: boolean }).afterCache, undefined);
    }));
});

describe("local storage: what cannot be stored", () => {
  test('a flow module that imports weft by a file path is refused with BUNDLE_FAILED (import "weftflow")', () =>
    withTmp("local-relative", async (tmp) => {
      const storage = localIn(tmp);
      const error = await expectCode(
        () => storage.addFlow(relativeImportFlow),
        "BUNDLE_FAILED",
        "a flow importing ../../../src/index.ts",
      );
      assert.match(error.message, /relative-import\.ts/);
      assert.match(error.message, /must import from "weftflow"/);
      assert.match(error.hint ?? "", /from "weftflow"/);
      assert.equal(storage.contains(relativeImportFlow), false);
      assert.equal(await exists(join(tmp, "flows")), false, "nothing written");
    }));

  test("a flow that its module does not export is refused at build() with STORAGE_FLOW_MISSING", () =>
    withTmp("local-unexported", async (tmp) => {
      const storage = localIn(tmp);
      const hidden = hiddenFlow();
      const location = storage.addFlow(hidden);
      const error = await expectCode(() => storage.build(), "STORAGE_FLOW_MISSING", "build()");
      assert.match(error.message, /storage-unexported/);
      assert.match(error.hint ?? "", /export it/);
      await expectCode(() => storage.getRunner(location), "STORAGE_NOT_BUILT", "getRunner");
    }));

  test("a flow defined outside a module file is refused with BUNDLE_FAILED", () =>
    withTmp("local-nomodule", async (tmp) => {
      const { flow, task } = await import("../../src/index.ts");
      const noop = task("noop", (x: number) => x);
      const evalFlow = new Function("flow", "noop", 'return flow("storage-eval", () => noop(1));')(
        flow,
        noop,
      ) as typeof conformanceFlow;
      const storage = localIn(tmp);
      await expectCode(() => storage.addFlow(evalFlow), "BUNDLE_FAILED", "a flow from eval");
    }));
});
