// The command's everyday contract: help and version, exit codes, stdout for
// results and stderr for progress, in process (test/support/cli.ts); and
// Ctrl-C, which needs a process of its own.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { runCli, runCliOnce } from "../support/cli.ts";
import {
  assertCliError,
  assertNoStack,
  cliFixtures,
  parseJsonRun,
  statesOf,
} from "../support/cli-result.ts";
import { isAlive, reapAll, repoRoot, startWeft } from "../support/weft-process.ts";

after(reapAll);

const f = (name: string) => `${cliFixtures}/${name}`;
const version = (
  JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { version: string }
).version;

describe("weft: help and version", { concurrency: true }, () => {
  for (const args of [["--help"], ["run", "--help"], ["graph", "--help"]]) {
    it(`weft ${args.join(" ")} prints usage with examples (exit 0)`, async () => {
      const result = await runCliOnce(args);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^Usage: weft/m);
      assert.match(result.stdout, /^Examples:\n {2}weft /m);
      assert.equal(result.stderr, "");
    });
  }

  it("weft run --help names every option", async () => {
    const result = await runCliOnce(["run", "--help"]);
    for (const option of [
      "--flow",
      "--param",
      "--params-json",
      "--executor",
      "--max-concurrency",
      "--max-workers",
      "--approve",
      "--json",
    ]) {
      assert.ok(result.stdout.includes(option), `run --help should mention ${option}`);
    }
  });

  it("weft --version prints package.json's version (exit 0)", async () => {
    const result = await runCli(["--version"]);
    assert.equal(result.code, 0);
    assert.equal(result.stdout, `${version}\n`);
  });

  it("an unknown command is bad usage (exit 2)", async () => {
    const result = await runCli(["frobnicate"]);
    assertCliError(result, { code: "USAGE", says: ["unknown command 'frobnicate'"] });
  });
});

describe("weft run: exit codes and output streams", { concurrency: true }, () => {
  it("exits 0 for a flow that succeeds, with the task table on stdout", async () => {
    const result = await runCli(["run", f("params.ts"), "--param", "word=ab"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^TASK\s+STATE\s+DURATION\s+ATTEMPTS\s+MESSAGE$/m);
    assert.match(result.stdout, /^repeat-1\s+Success\s/m);
    // Progress goes to stderr, never to stdout.
    assert.match(result.stderr, /^flow greet running/m);
    assert.match(result.stderr, /^flow greet Success/m);
    assert.doesNotMatch(result.stdout, /running/);
  });

  it("exits 1 for a flow that fails, naming the failed task", async () => {
    const result = await runCli(["run", f("failing.ts")]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /^validate-1\s+Failed\s.*3 rows have no customer id$/m);
    assert.match(result.stderr, /^flow ingest Failed: 1 of 1 reference tasks failed: validate-1/m);
    assertNoStack(result.stdout + result.stderr);
  });

  it("prints the graph on stdout", async () => {
    const mermaid = await runCli(["graph", f("params.ts")]);
    assert.equal(mermaid.code, 0, mermaid.stderr);
    assert.equal(
      mermaid.stdout,
      [
        "flowchart TD",
        '  n_word[/"word"/]',
        '  n_times[/"times"/]',
        '  n_repeat_1["repeat-1"]',
        "  n_word --> n_repeat_1",
        "  n_times --> n_repeat_1",
        "",
      ].join("\n"),
    );
    assert.equal(mermaid.stderr, "");
  });
});

describe("weft run: interrupted", { concurrency: true }, () => {
  for (const executor of ["concurrent", "worker-threads"]) {
    it(`exits 130 on SIGINT and leaves no process behind (${executor})`, async () => {
      const args = ["run", f("slow.ts"), "--executor", executor, "--json"];
      const run = startWeft(executor === "worker-threads" ? [...args, "--max-workers", "1"] : args);
      await run.waitFor("waiting for a signal", { stream: "stderr" });
      const sent = Date.now();
      process.kill(run.pid, "SIGINT");
      const result = await run.done;
      assert.equal(result.code, 130, result.stderr);
      // A task that ignores its abort signal must not keep the command alive.
      assert.ok(Date.now() - sent < 10_000, "the command ended soon after SIGINT");
      assert.equal(isAlive(run.pid), false, `process ${run.pid} is gone`);
      assert.match(result.stderr, /^interrupted: cancelling the run/m);
      assert.match(result.stderr, /^flow slow Cancelled/m);
      const json = parseJsonRun(result);
      assert.equal(json.state.type, "Cancelled");
      assert.deepEqual(statesOf(json), {
        "wait-for-signal-1": "Cancelled",
        "sleep-through-it-1": "Cancelled",
      });
    });
  }
});
