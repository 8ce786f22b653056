// Issue 13, item 14: a task that never settles (a promise that never resolves,
// no timeout) used to make `weft run` exit 13 with no message and no table
// (Node's "unsettled top-level await"). Now, when the event loop empties, such
// tasks end Failed with a message naming them, the table is printed, and the
// exit code is 1. Child processes: the exit code is the point.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { cliFixtures, explain } from "../support/cli-result.ts";
import { reapAll, runWeft } from "../support/weft-process.ts";

const fixture = `${cliFixtures}/never-settles.ts`;

after(reapAll);

describe("weft run: a task that never settles", { concurrency: true }, () => {
  it("ends the task Failed naming it, prints the table and exits 1", async () => {
    const result = await runWeft(["run", fixture, "--flow", "stuck"]);
    assert.equal(result.code, 1, explain(result));
    assert.match(
      result.stderr,
      /task hang-1 never settled: its promise neither resolved nor rejected and nothing is left that could settle it/,
    );
    assert.match(result.stdout, /^TASK\s+STATE/m);
    assert.match(result.stdout, /^hang-1\s+Failed\s.*task hang-1 never settled/m);
    // Tasks that settled keep their states; one on a timer was not taken for stuck.
    assert.match(result.stdout, /^quick-1\s+Success/m);
    assert.match(result.stdout, /^wait-1\s+Success/m);
    assert.match(result.stderr, /^flow stuck Failed: 1 task never settled: hang-1/m);
  });

  it("names mapped children by map index; --json still prints one document", async () => {
    const result = await runWeft(["run", fixture, "--flow", "stuck-mapped", "--json"]);
    assert.equal(result.code, 1, explain(result));
    const run = JSON.parse(result.stdout) as { state: { type: string; message: string } };
    assert.equal(run.state.type, "Failed");
    assert.equal(run.state.message, "2 tasks never settled: maybe-1[0], maybe-1[2]");
  });

  it("through the subprocess environment (weft execute) as well", async () => {
    const result = await runWeft([
      "run",
      fixture,
      "--flow",
      "stuck",
      "--environment",
      "subprocess",
    ]);
    assert.equal(result.code, 1, explain(result));
    assert.match(result.stdout, /^hang-1\s+Failed\s.*never settled/m);
  });
});
