// The flow bundler under every bundle storage: one content-addressed ES module
// per flow file, with weft left external, and clear refusals.
import assert from "node:assert/strict";
import { copyFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { bundleFlowModule, sha256 } from "../../../src/storage/bundle/flow-bundler.ts";
import { expectCode, withTmp } from "../storage.case.ts";

const fixture = (name: string) => new URL(`../../fixtures/storage/${name}`, import.meta.url).href;

describe("flow bundler", () => {
  test("the same code always yields the same bytes, named by their SHA-256", () => {
    const a = bundleFlowModule(fixture("conformance-flows.ts"));
    const b = bundleFlowModule(fixture("conformance-flows.ts"));
    assert.equal(a.code, b.code);
    assert.equal(a.hash, sha256(a.code));
    assert.equal(a.file, `${a.hash}.mjs`);
    assert.deepEqual(a.inputs, ["conformance-flows.ts"]);
    assert.match(a.code, /from "weftflow"/, "weft stays external");
  });

  test("the same file in another directory gets the same hash (no absolute path inside)", () =>
    withTmp("bundle-copy", async (tmp) => {
      const copy = join(tmp, "conformance-flows.ts");
      await copyFile(fileURLToPath(fixture("conformance-flows.ts")), copy);
      const here = bundleFlowModule(fixture("conformance-flows.ts"));
      const there = bundleFlowModule(pathToFileURL(copy).href);
      assert.equal(there.file, here.file);
      assert.ok(!here.code.includes(fileURLToPath(new URL("../../../", import.meta.url))));
    }));

  test("different code gets a different hash", () => {
    const a = bundleFlowModule(fixture("conformance-flows.ts"));
    const b = bundleFlowModule(fixture("other-flow.ts"));
    assert.notEqual(a.file, b.file);
  });

  test("a module that imports weft's source by path is refused with BUNDLE_FAILED", async () => {
    const error = await expectCode(
      () => bundleFlowModule(fixture("relative-import.ts")),
      "BUNDLE_FAILED",
      "relative import of src/",
    );
    assert.match(error.message, /imports weft by a file path/);
    assert.match(error.hint ?? "", /import \{ task, flow \} from "weftflow"/);
  });

  test("a syntax error is refused with BUNDLE_FAILED naming the file and line", () =>
    withTmp("bundle-syntax", async (tmp) => {
      const file = join(tmp, "broken.ts");
      await writeFile(file, 'import { flow } from "weftflow";\n\nexport const x = ;\n');
      const error = await expectCode(
        () => bundleFlowModule(pathToFileURL(file).href),
        "BUNDLE_FAILED",
        "a syntax error",
      );
      assert.match(error.message, /broken\.ts:3: /);
    }));

  test("an import that cannot be resolved is refused with BUNDLE_FAILED naming it", () =>
    withTmp("bundle-missing", async (tmp) => {
      const file = join(tmp, "missing.ts");
      await writeFile(file, 'import { y } from "./nope.ts";\nexport const x = y;\n');
      const error = await expectCode(
        () => bundleFlowModule(pathToFileURL(file).href),
        "BUNDLE_FAILED",
        "an unresolved import",
      );
      assert.match(error.message, /Could not resolve "\.\/nope\.ts"/);
    }));

  test("code that is not in a module file cannot be bundled", async () => {
    const error = await expectCode(
      () => bundleFlowModule("data:text/javascript,export const x = 1"),
      "BUNDLE_FAILED",
      "a data: URL",
    );
    assert.match(error.message, /only flows defined in module files/);
  });
});
