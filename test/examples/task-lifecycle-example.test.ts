// Runs examples/task-lifecycle.ts through the `weft` command (in process): loops,
// a forced retry, Succeed and state handlers, as the example's header says.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runCli } from "../support/cli.ts";
import { parseJsonRun, statesOf, taskOf } from "../support/cli-result.ts";

describe("examples/task-lifecycle.ts", () => {
  it("loops over the pages, polls with Retry and ends early with Succeed", async () => {
    const result = await runCli([
      "run",
      "examples/task-lifecycle.ts",
      "--json",
      "--param",
      "pages=4",
    ]);
    assert.equal(result.code, 0, result.stderr);
    const run = parseJsonRun(result);
    assert.equal(run.state.type, "Success", run.state.message);
    assert.deepEqual(statesOf(run), {
      pages: "Success",
      "fetch-all-1": "Success",
      "wait-for-export-1": "Success",
      "skip-if-fresh-1": "Success",
    });
    assert.equal(taskOf(run, "wait-for-export-1").attempts, 3);
    assert.equal(taskOf(run, "skip-if-fresh-1").message, "nothing to refresh");
    assert.equal(
      (run as typeof run & { outputs: unknown }).outputs,
      "exported 4 rows; cache already fresh",
    );
  });

  it("draws its graph", async () => {
    const result = await runCli(["graph", "examples/task-lifecycle.ts"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /fetch-all-1/);
  });
});
