// Issue 13, item 12: the reference-task rule (a flow's state comes from its
// reference tasks) never hides a failed task: `weft run` says which tasks
// failed, --json lists them in `failedTasks`, and --strict (or the flow option
// strict: true) fails the run. In process through runCli.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { startTestServer, type TestServer } from "../agent/agent-server.ts";
import { hiddenFailure } from "../fixtures/agent/agent-flows.ts";
import { runCli } from "../support/cli.ts";
import { cliFixtures, explain, parseJsonRun } from "../support/cli-result.ts";

const fixture = `${cliFixtures}/reference-hides-failure.ts`;

interface WithFailed {
  readonly failedTasks: readonly {
    slug: string;
    mapIndex?: number;
    type: string;
    message?: string;
  }[];
}

describe("weft run: failed tasks beside successful reference tasks", { concurrency: true }, () => {
  it("the summary names the failed task, and the run still succeeds by its reference tasks", async () => {
    const result = await runCli(["run", fixture, "--flow", "nightly"]);
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, /^load-items-1\s+Failed\s.*the items file is empty$/m);
    assert.match(
      result.stderr,
      /^flow nightly: Success \(reference tasks\) — 1 task failed: load-items-1$/m,
    );
    assert.match(result.stderr, /^hint: run with --strict/m);
    // The flow's own message says it too (what a remote run's state carries).
    assert.match(
      result.stderr,
      /^flow nightly Success: all 1 reference tasks succeeded, but 1 other task failed: load-items-1/m,
    );
  });

  it("--json carries the failed tasks", async () => {
    const result = await runCli(["run", fixture, "--flow", "nightly", "--json"]);
    assert.equal(result.code, 0, explain(result));
    const run = parseJsonRun(result) as ReturnType<typeof parseJsonRun> & WithFailed;
    assert.equal(run.state.type, "Success");
    assert.deepEqual(run.failedTasks, [
      { slug: "load-items-1", type: "Failed", message: "the items file is empty" },
    ]);
  });

  it("--json names a failed mapped child by its map index", async () => {
    const result = await runCli(["run", fixture, "--flow", "nightly-mapped", "--json"]);
    assert.equal(result.code, 0, explain(result));
    const run = parseJsonRun(result) as ReturnType<typeof parseJsonRun> & WithFailed;
    assert.deepEqual(run.failedTasks, [
      { slug: "double-1", mapIndex: 1, type: "Failed", message: "cannot double 2" },
    ]);
  });

  it("--strict fails the run (exit 1) when any task failed", async () => {
    const result = await runCli(["run", fixture, "--flow", "nightly", "--strict", "--json"]);
    assert.equal(result.code, 1, explain(result));
    const run = parseJsonRun(result) as ReturnType<typeof parseJsonRun> & WithFailed;
    assert.equal(run.state.type, "Failed");
    assert.match(run.state.message ?? "", /^strict: 1 task failed: load-items-1/);
    assert.equal(run.failedTasks.length, 1);
  });

  it("the flow option strict: true fails the run; --strict through an environment too", async () => {
    const option = await runCli(["run", fixture, "--flow", "nightly-strict"]);
    assert.equal(option.code, 1, explain(option));
    assert.match(
      option.stderr,
      /^flow nightly-strict Failed: strict: 1 task failed: load-items-1/m,
    );

    const local = await runCli([
      "run",
      fixture,
      "--flow",
      "nightly",
      "--environment",
      "local",
      "--strict",
    ]);
    assert.equal(local.code, 1, explain(local));
    assert.match(
      local.stderr,
      /^flow nightly: Failed \(--strict\) — 1 task failed: load-items-1; the reference tasks succeeded$/m,
    );
  });
});

describe("weft run --remote --wait: failed tasks beside successful reference tasks", () => {
  let s: TestServer | undefined;
  after(() => s?.close());

  it("the summary and --json name the failed task; --strict exits 1", async () => {
    s = await startTestServer("sqlite");
    await s.register(hiddenFailure);
    s.agent();
    const remote = ["run", "--remote", "agent-hidden-failure", "--wait", "--api", s.server.url];
    const plain = await runCli(remote);
    assert.equal(plain.code, 0, explain(plain));
    assert.match(
      plain.stderr,
      /^flow agent-hidden-failure: Success \(reference tasks\) — 1 task failed: load-items-1$/m,
    );
    const strict = await runCli([...remote, "--strict", "--json"]);
    assert.equal(strict.code, 1, explain(strict));
    const run = JSON.parse(strict.stdout) as { state: { type: string } } & WithFailed;
    assert.equal(run.state.type, "Success", "the server keeps the run's state");
    assert.deepEqual(
      run.failedTasks.map((t) => [t.slug, t.type]),
      [["load-items-1", "Failed"]],
    );
  });
});
