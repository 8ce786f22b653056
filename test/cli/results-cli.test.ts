// `weft run --result-dir D [--result-serializer json|binary] [--resume <run id>]`:
// the flags' logic in process (test/support/cli.ts); what must cross a process
// boundary in real processes: a crashed run (kill -9) resumes from what it
// persisted, and caches outlive the process (this process's own cache must not
// be the one that answers, so both runs of a cache test are children).
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { deserialize } from "node:v8";
import { contentFlowSource } from "../fixtures/results/content-flow-source.ts";
import { filesUnder, tempDir, waitFor, writeModule } from "../fixtures/results/results-helpers.ts";
import { runCli } from "../support/cli.ts";
import { assertCliError, parseJsonRun, statesOf, taskOf } from "../support/cli-result.ts";
import { isAlive, reapAll, runWeft, startWeft } from "../support/weft-process.ts";

after(reapAll);

const fixture = (name: string) => `test/fixtures/results/${name}`;

/** The lines a fixture's tasks appended to their log (one per task run). */
function ran(log: string): string[] {
  return existsSync(log) ? readFileSync(log, "utf8").trim().split("\n").filter(Boolean) : [];
}

/** The run id in `flow run <id> (results in D)`, which `weft run` prints on stderr at the end. */
function runIdOf(stderr: string): string {
  const m = /^flow run (\S+) \(results in (.+)\)$/m.exec(stderr);
  assert.ok(m, `no "flow run <id> (results in …)" line on stderr:\n${stderr}`);
  return m[1]!;
}

describe("weft run --result-dir", { concurrency: true }, () => {
  test("persists every task's result, prints the run id and where results are", async (t) => {
    const dir = tempDir(t);
    const log = join(dir, "ran.log");
    const results = join(dir, "results");
    const result = await runCli(["run", fixture("cache-flow.ts"), "--result-dir", results], {
      env: { RESULTS_LOG: log },
    });
    assert.equal(result.code, 0, result.stderr);
    const id = runIdOf(result.stderr);
    assert.match(result.stderr, new RegExp(`flow run ${id} \\(results in ${results}\\)`));
    assert.deepEqual(
      filesUnder(results).filter((f) => !f.startsWith("_cache/")),
      [`results-cache/expensive-1/-/${id}`, `results-cache/use-1/-/${id}`],
    );
    assert.equal(readFileSync(join(results, "results-cache/use-1/-", id), "utf8"), "14");
  });

  for (const executor of ["concurrent", "worker-threads"]) {
    test(`resume: a failed run resumed later runs only what did not finish (binary serializer, ${executor})`, async (t) => {
      const dir = tempDir(t);
      const log = join(dir, "ran.log");
      const fixed = join(dir, "fixed");
      const results = join(dir, "results");
      const env = { RESULTS_LOG: log, RESULTS_FIXED: fixed };
      const args = [
        "run",
        fixture("resume-flow.ts"),
        "--executor",
        executor,
        "--result-dir",
        results,
      ];
      const first = await runCli([...args, "--result-serializer", "binary"], { env });
      assert.equal(first.code, 1, first.stderr);
      const id = runIdOf(first.stderr);
      assert.deepEqual(ran(log), ["index", "report"]);

      writeFileSync(fixed, "");
      const second = await runCli(
        [...args, "--result-serializer", "binary", "--resume", id, "--json"],
        { env },
      );
      assert.equal(second.code, 0, second.stderr);
      const run = parseJsonRun(second);
      assert.deepEqual(statesOf(run), { "index-1": "Success", "report-1": "Success" });
      assert.match(taskOf(run, "index-1").message ?? "", new RegExp(`resumed from run ${id}`));
      assert.deepEqual(ran(log), ["index", "report", "report"], "index did not run again");
      const report = deserialize(
        readFileSync(join(results, "results-resume/report-1/-", run.flowRunId)),
      );
      assert.equal(report, "ada=36,grace=85", "report got the Map back");
    });
  }

  test("resume with a corrupt result: the task runs again and stderr warns, naming the location", async (t) => {
    const dir = tempDir(t);
    const log = join(dir, "ran.log");
    const fixed = join(dir, "fixed");
    const results = join(dir, "results");
    const env = { RESULTS_LOG: log, RESULTS_FIXED: fixed };
    const args = ["run", fixture("resume-flow.ts"), "--result-dir", results];
    const first = await runCli([...args, "--result-serializer", "binary"], { env });
    const id = runIdOf(first.stderr);
    const location = `results-resume/index-1/-/${id}`;
    writeFileSync(join(results, location), "garbage");
    writeFileSync(fixed, "");
    const second = await runCli([...args, "--result-serializer", "binary", "--resume", id], {
      env,
    });
    assert.equal(second.code, 0, second.stderr);
    const warning = second.stderr.split("\n").find((l) => l.startsWith("warn index-1:"));
    assert.ok(warning?.includes(location), second.stderr);
    assert.ok(warning?.includes("runs again"), warning);
    assert.deepEqual(ran(log), ["index", "report", "index", "report"]);
  });

  test("a crashed run (kill -9) resumes: the finished tasks do not run again", async (t) => {
    const dir = tempDir(t);
    const log = join(dir, "ran.log");
    const gate = join(dir, "gate");
    const results = join(dir, "results");
    const env = { RESULTS_LOG: log, RESULTS_GATE: gate };
    const args = ["run", fixture("crash-flow.ts"), "--result-dir", results];
    const doomed = startWeft(args, { env });
    t.after(() => {
      if (isAlive(doomed.pid)) process.kill(doomed.pid, "SIGKILL");
    });
    const persisted = await waitFor("first and second to persist their results", () => {
      const files = filesUnder(results);
      const first = files.find((f) => f.startsWith("results-crash/first-1/-/"));
      const second = files.find((f) => f.startsWith("results-crash/second-1/-/"));
      return first && second && ran(log).includes("blocked") ? { first, second } : undefined;
    });
    process.kill(doomed.pid, "SIGKILL");
    const killed = await doomed.done;
    assert.equal(killed.signal, "SIGKILL");
    assert.equal(isAlive(doomed.pid), false);

    // The run id: the name of the persisted result, and the one the run announced.
    const id = persisted.first.split("/").at(-1)!;
    assert.equal(persisted.second, `results-crash/second-1/-/${id}`);
    assert.ok(doomed.stderr().includes(id), doomed.stderr());
    assert.deepEqual(ran(log), ["first", "second", "blocked"]);

    writeFileSync(gate, "");
    // Resumed in this process: another process than the one that persisted the results.
    const resumed = await runCli([...args, "--resume", id, "--json"], { env });
    assert.equal(resumed.code, 0, resumed.stderr);
    const run = parseJsonRun(resumed);
    assert.deepEqual(statesOf(run), {
      "first-1": "Success",
      "second-1": "Success",
      "blocked-1": "Success",
    });
    for (const slug of ["first-1", "second-1"]) {
      assert.match(taskOf(run, slug).message ?? "", new RegExp(`resumed from run ${id}`));
    }
    assert.deepEqual(ran(log), ["first", "second", "blocked", "blocked"]);
    assert.equal(
      readFileSync(join(results, "results-crash/blocked-1/-", run.flowRunId), "utf8"),
      "60",
    );
  });

  test("--resume without --result-dir is refused: RESULT_NOT_PERSISTED, exit 2", async () => {
    const result = await runCli(["run", fixture("cache-flow.ts"), "--resume", "some-run"]);
    assertCliError(result, {
      code: "RESULT_NOT_PERSISTED",
      says: ["cannot resume run some-run", '"results-cache"', "no result backend"],
      hint: "--result-dir",
    });
  });

  test("--result-serializer without --result-dir is refused (exit 2)", async () => {
    const result = await runCli(["run", fixture("cache-flow.ts"), "--result-serializer", "binary"]);
    assertCliError(result, { code: "USAGE", says: ["--result-serializer needs --result-dir"] });
  });

  test("an unknown --result-serializer is refused, listing the known ones (exit 2)", async (t) => {
    const dir = tempDir(t);
    const result = await runCli([
      "run",
      fixture("cache-flow.ts"),
      "--result-dir",
      dir,
      "--result-serializer",
      "xml",
    ]);
    assertCliError(result, { code: "INVALID_FLOW_OPTIONS", says: ['"xml"', "json, binary"] });
  });

  for (const flag of [
    ["--result-dir", "some/dir"],
    ["--resume", "some-run"],
  ]) {
    test(`with --environment, ${flag[0]} is refused rather than ignored (exit 2)`, async () => {
      const result = await runCli([
        "run",
        fixture("cache-flow.ts"),
        "--environment",
        "local",
        ...flag,
      ]);
      assertCliError(result, {
        code: "USAGE",
        says: ["--result-dir and --resume work without --environment"],
      });
    });
  }
});

describe("a cache that outlives the process", { concurrency: true }, () => {
  test("cacheFor: a second process ends Cached, names the _cache location, skips the side effect", async (t) => {
    const dir = tempDir(t);
    const log = join(dir, "ran.log");
    const results = join(dir, "results");
    const args = ["run", fixture("cache-flow.ts"), "--result-dir", results, "--json"];
    const first = await runWeft(args, { env: { RESULTS_LOG: log } });
    assert.equal(first.code, 0, first.stderr);
    assert.equal(taskOf(parseJsonRun(first), "expensive-1").type, "Success");
    const entries = filesUnder(results).filter((f) => f.startsWith("_cache/"));
    assert.equal(entries.length, 1);
    assert.match(entries[0]!, /^_cache\/[0-9a-f]{64}$/);

    const second = await runWeft(args, { env: { RESULTS_LOG: log } });
    assert.equal(second.code, 0, second.stderr);
    const task = taskOf(parseJsonRun(second), "expensive-1");
    assert.equal(task.type, "Cached");
    assert.ok(task.message?.includes(entries[0]!), task.message);
    assert.deepEqual(ran(log), ["expensive", "use", "use"], "expensive ran once");

    const other = await runWeft([...args, "--param", "n=5"], { env: { RESULTS_LOG: log } });
    assert.equal(taskOf(parseJsonRun(other), "expensive-1").type, "Success", "other inputs");
    assert.equal(filesUnder(results).filter((f) => f.startsWith("_cache/")).length, 2);
  });

  test('cache: "content" across processes: another task\'s code change keeps the entry, its own does not', async (t) => {
    const dir = tempDir(t);
    const log = join(dir, "ran.log");
    const results = join(dir, "results");
    const base = { name: "results-content", log, resultDir: results };
    const v1 = writeModule(dir, "v1.ts", contentFlowSource(base));
    const v2 = writeModule(
      dir,
      "v2.ts",
      contentFlowSource({ ...base, prepare: "const one = 1; return n + one;" }),
    );
    const v3 = writeModule(dir, "v3.ts", contentFlowSource({ ...base, score: "return x * 3;" }));
    const run = async (file: string) => {
      const result = await runWeft(["run", file, "--json"]);
      assert.equal(result.code, 0, result.stderr);
      return taskOf(parseJsonRun(result), "score-1");
    };
    assert.equal((await run(v1)).type, "Success");
    const kept = await run(v2);
    assert.equal(kept.type, "Cached");
    assert.match(kept.message ?? "", /_cache\/[0-9a-f]{64}/);
    assert.equal((await run(v3)).type, "Success");
    assert.deepEqual(ran(log), ["prepare", "score", "prepare", "prepare", "score"]);
  });
});
