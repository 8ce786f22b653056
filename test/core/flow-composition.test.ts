// Core is a pure model: its Flow neither runs nor serializes, and no part installs
// itself into it. The public flow() (src/flow.ts, the composition root) is the
// model with the engine's run and serialization's serialize attached.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { ERROR_CODES } from "../../src/core/errors.ts";
import * as core from "../../src/core/flow.ts";
import { flow, isFlow } from "../../src/flow.ts";
import { task } from "../../src/index.ts";

const double = task("double", (n: number) => n * 2);

describe("the flow model and its composition", () => {
  test("core's Flow is a model: no run, no serialize, no hooks to install, no engine error", () => {
    assert.equal("run" in core.Flow.prototype, false);
    assert.equal("serialize" in core.Flow.prototype, false);
    const exported = Object.keys(core);
    for (const hook of ["installFlowRunner", "installFlowSerializer", "checkPairing", "flow"]) {
      assert.ok(!exported.includes(hook), `core/flow.ts exports ${hook}`);
    }
    assert.ok(!(ERROR_CODES as readonly string[]).includes("ENGINE_NOT_INSTALLED"));
  });

  test("the public flow() is the model with the engine's run and serialization's serialize", async () => {
    const f = flow("composed", () => double(21));
    assert.ok(f instanceof core.Flow);
    assert.ok(isFlow(f) && core.isFlow(f));
    assert.equal(f.moduleUrl, import.meta.url);
    const run = await f.run();
    assert.equal(run.state.type, "Success");
    assert.equal(run.result(f.outputs), 42);
    const json = f.serialize();
    assert.equal(json.name, "composed");
    assert.deepEqual(
      (json.tasks as { slug: string }[]).map((t) => t.slug),
      ["double-1"],
    );
  });

  test("the definition is checked where the model is made", () => {
    assert.throws(() => flow("no edge spaces ", () => 1), { code: "INVALID_FLOW_NAME" });
    assert.throws(() => flow("x", 1 as unknown as () => 1), { code: "INVALID_FLOW_OPTIONS" });
    assert.throws(() => flow("x", () => 1, { strict: "yes" as unknown as boolean }), {
      code: "INVALID_FLOW_OPTIONS",
    });
  });
});
