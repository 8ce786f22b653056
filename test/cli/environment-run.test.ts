// `weft run <file> --environment …`: each pair of environment and storage that
// makes sense runs end to end, and the pairs (and flags) that do not are
// refused up front with exit 2. The command runs in process
// (test/support/cli.ts), and the environments start their flow-run children
// from here; where the weft process itself is the point (what reaches its
// stdout, its --timeout, Ctrl-C) it runs as a child. Every test has its own
// WEFT_HOME and storage directory in a temporary directory.
import assert from "node:assert/strict";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { readJson, withDirs } from "../environments/environment-helpers.ts";
import type { GreetReport } from "../fixtures/environments/env-flows.ts";
import { runCli } from "../support/cli.ts";
import {
  assertCliError,
  type CliResult,
  explain,
  parseJsonRun,
  statesOf,
  taskOf,
} from "../support/cli-result.ts";
import { assertGone, readPids, reapAll, runWeft, startWeft } from "../support/weft-process.ts";

const FLOWS = "test/fixtures/environments/env-flows.ts";
/** A weft process and its flow-run child each take seconds to start on a loaded machine. */
const TIMEOUT_MS = 120_000;

/** The arguments of `weft run` of the greet flow, with these extra ones. */
const greetArgs = (out: string, args: readonly string[], name: string) => [
  "run",
  FLOWS,
  "--flow",
  "env-greet",
  "--param",
  `name=${name}`,
  "--param",
  `out=${out}`,
  ...args,
];

/** `weft run` of the greet flow with these extra arguments, in process, in a fresh WEFT_HOME. */
function greet(home: string, out: string, args: readonly string[], name = "cli") {
  return runCli(greetArgs(out, args, name), { env: { WEFT_HOME: home } });
}

/** The same as a weft process of its own. */
function greetProcess(
  home: string,
  out: string,
  args: readonly string[],
  name = "cli",
): Promise<CliResult> {
  return runWeft(greetArgs(out, args, name), { env: { WEFT_HOME: home }, timeoutMs: TIMEOUT_MS });
}

describe("weft run --environment", { concurrency: true }, () => {
  after(reapAll);

  test("subprocess + local storage runs end to end in a child process", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await withDirs("cli-sub-local", async ({ tmp, home }) => {
      const out = join(tmp, "out.json");
      const dir = join(tmp, "flows");
      const result = await greet(home, out, [
        "--environment",
        "subprocess",
        "--storage",
        "local",
        "--dir",
        dir,
        "--json",
      ]);
      assert.equal(result.code, 0, explain(result));
      const run = parseJsonRun(result);
      assert.equal(run.state.type, "Success");
      assert.equal(run.flow, "env-greet");
      assert.deepEqual(statesOf(run), {
        name: "Success",
        out: "Success",
        echo: "Success",
        "greet-1": "Success",
        "shout-1": "Success",
      });
      const report = await readJson<GreetReport>(out);
      assert.equal(report?.greeting, "hello, cli");
      assert.equal(report?.home, home, "the child inherits WEFT_HOME");
      const bundles = (await readdir(dir)).filter((f) => f.endsWith(".mjs"));
      assert.equal(bundles.length, 1, "the flow was built into --dir");
    });
  });

  test("without --json: the table on stdout, the child's output as log lines on stderr", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await withDirs("cli-sub-human", async ({ tmp, home }) => {
      const result = await greet(
        home,
        join(tmp, "out.json"),
        ["--environment", "subprocess"],
        "human",
      );
      assert.equal(result.code, 0, explain(result));
      assert.match(result.stdout, /^TASK\s+STATE/m);
      assert.match(result.stdout, /greet-1\s+Success/);
      assert.doesNotMatch(result.stdout, /says hello/, "the child's output is not a result");
      assert.match(result.stderr, /stdout says hello to human/);
      assert.match(result.stderr, /greeting human/, "context().logger lines reach the console");
    });
  });

  test("subprocess without --storage stores the flow in $WEFT_HOME/flows", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await withDirs("cli-sub-default", async ({ tmp, home }) => {
      const out = join(tmp, "out.json");
      const result = await greet(home, out, ["--environment", "subprocess", "--json"]);
      assert.equal(result.code, 0, explain(result));
      assert.equal(parseJsonRun(result).state.type, "Success");
      const bundles = (await readdir(join(home, "flows"))).filter((f) => f.endsWith(".mjs"));
      assert.equal(bundles.length, 1);
    });
  });

  test("subprocess + module storage runs end to end", { timeout: TIMEOUT_MS }, async () => {
    await withDirs("cli-sub-module", async ({ tmp, home }) => {
      const out = join(tmp, "out.json");
      const result = await greet(home, out, [
        "--environment",
        "subprocess",
        "--storage",
        "module",
        "--module",
        `./${FLOWS}`,
        "--json",
      ]);
      assert.equal(result.code, 0, explain(result));
      assert.equal(parseJsonRun(result).state.type, "Success");
      assert.equal((await readJson<GreetReport>(out))?.greeting, "hello, cli");
    });
  });

  test("local + memory (the default storage) runs in the weft process itself", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await withDirs("cli-local-memory", async ({ tmp, home }) => {
      const out = join(tmp, "out.json");
      const result = await runCli(
        [
          "run",
          FLOWS,
          "--flow",
          "env-greet",
          "--param",
          "name=here",
          "--param",
          `out=${out}`,
          "--param",
          "echo=false",
          "--environment",
          "local",
          "--json",
        ],
        { env: { WEFT_HOME: home } },
      );
      assert.equal(result.code, 0, explain(result));
      assert.equal(parseJsonRun(result).state.type, "Success");
      assert.equal((await readJson<GreetReport>(out))?.pid, process.pid, "no child process");
    });
  });

  test("local + local storage builds the bundle and runs it in the weft process", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await withDirs("cli-local-local", async ({ tmp, home }) => {
      const out = join(tmp, "out.json");
      const dir = join(tmp, "flows");
      const result = await greet(home, out, [
        "--environment",
        "local",
        "--storage",
        "local",
        "--dir",
        dir,
        "--json",
        "--param",
        "echo=false",
      ]);
      assert.equal(result.code, 0, explain(result));
      assert.equal(parseJsonRun(result).state.type, "Success");
      assert.equal((await readdir(dir)).filter((f) => f.endsWith(".mjs")).length, 1);
    });
  });

  test("--json keeps stdout to the one JSON document when a task prints, in every environment", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await withDirs("cli-json-stdout", async ({ tmp, home }) => {
      // A process of its own: what its tasks print reaches the process's stdout.
      const [local, subprocess] = await Promise.all([
        greetProcess(home, join(tmp, "a.json"), ["--environment", "local", "--json"], "noisy"),
        greetProcess(home, join(tmp, "b.json"), ["--environment", "subprocess", "--json"], "noisy"),
      ]);
      assert.equal(subprocess.code, 0, explain(subprocess));
      assert.equal(parseJsonRun(subprocess).state.type, "Success");
      assert.match(subprocess.stderr, /stdout says hello to noisy/);
      assert.equal(local.code, 0, explain(local));
      assert.equal(parseJsonRun(local).state.type, "Success");
      assert.match(local.stderr, /stdout says hello to noisy/);
    });
  });

  test("a failing flow in a child exits 1 with the task's error", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await withDirs("cli-sub-fail", async ({ home }) => {
      const result = await runCli(
        ["run", FLOWS, "--flow", "env-fail", "--environment", "subprocess", "--json"],
        { env: { WEFT_HOME: home } },
      );
      assert.equal(result.code, 1, explain(result));
      const run = parseJsonRun(result);
      assert.equal(run.state.type, "Failed");
      const boom = taskOf(run, "boom-1");
      assert.equal(boom.type, "Failed");
      assert.match(boom.message ?? "", /boom: the task failed on purpose/);
    });
  });

  test("--executor reaches the child (worker-threads runs the task off the main thread)", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await withDirs("cli-sub-executor", async ({ tmp, home }) => {
      const out = join(tmp, "out.json");
      const result = await greet(home, out, [
        "--environment",
        "subprocess",
        "--executor",
        "worker-threads",
        "--max-workers",
        "1",
        "--json",
      ]);
      assert.equal(result.code, 0, explain(result));
      assert.ok(((await readJson<GreetReport>(out))?.threadId ?? 0) > 0, "a worker thread");
    });
  });

  test("--env NAME=value reaches the child", { timeout: TIMEOUT_MS }, async () => {
    await withDirs("cli-sub-env", async ({ tmp, home }) => {
      const out = join(tmp, "out.json");
      const result = await greet(home, out, [
        "--environment",
        "subprocess",
        "--env",
        "WEFT_TEST_MARKER=a=b",
        "--json",
      ]);
      assert.equal(result.code, 0, explain(result));
      assert.equal((await readJson<GreetReport>(out))?.marker, "a=b", "split at the first =");
    });
  });

  test("--timeout kills a hanging child and its grandchild: exit 1, TimedOut", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await withDirs("cli-sub-timeout", async ({ tmp, home }) => {
      const pidFile = join(tmp, "pids");
      // A process of its own: the test runs 15 s, and kills nothing of this one.
      const running = runWeft(
        [
          "run",
          FLOWS,
          "--flow",
          "env-hang",
          "--param",
          `pidFile=${pidFile}`,
          "--environment",
          "subprocess",
          "--timeout",
          "15000",
          "--json",
        ],
        { env: { WEFT_HOME: home }, timeoutMs: TIMEOUT_MS },
      );
      const pids = await readPids(pidFile, 2);
      const result = await running;
      assert.equal(result.code, 1, explain(result));
      const run = parseJsonRun(result);
      assert.equal(run.state.type, "TimedOut");
      assert.match(run.state.message ?? "", /hard timeout after 15000 ms/);
      await assertGone(pids, "the timed-out child and its grandchild");
    });
  });

  test("Ctrl-C (SIGINT) cancels the child and exits 130, leaving no process", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await withDirs("cli-sub-sigint", async ({ tmp, home }) => {
      const pidFile = join(tmp, "pids");
      const cli = startWeft(
        [
          "run",
          FLOWS,
          "--flow",
          "env-nap",
          "--param",
          `pidFile=${pidFile}`,
          "--param",
          "grandchild=true",
          "--environment",
          "subprocess",
        ],
        { env: { WEFT_HOME: home }, timeoutMs: TIMEOUT_MS },
      );
      const pids = await readPids(pidFile, 2);
      process.kill(cli.pid, "SIGINT");
      const result = await cli.done;
      assert.equal(result.code, 130, explain(result));
      assert.match(result.stderr, /Cancelled/);
      await assertGone(pids, "the cancelled child and its grandchild");
    });
  });

  test("subprocess + memory is refused up front: exit 2 naming both, nothing runs", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await withDirs("cli-sub-memory", async ({ tmp, home }) => {
      const out = join(tmp, "out.json");
      const result = await greet(home, out, ["--environment", "subprocess", "--storage", "memory"]);
      const line = assertCliError(result, {
        code: "STORAGE_NOT_SHAREABLE",
        says: ["subprocess environment", "memory storage"],
        hint: /local/,
      });
      assert.ok(line);
      assert.equal(await readJson(out), undefined, "the flow never ran");
    });
  });

  test("flags that need a subprocess, or an unknown kind, are refused with exit 2", {
    timeout: TIMEOUT_MS,
  }, async () => {
    await withDirs("cli-bad-flags", async ({ tmp, home }) => {
      const out = join(tmp, "out.json");
      const cases: [string[], string, (string | RegExp)[]][] = [
        [["--heap-limit", "256"], "USAGE", ["--heap-limit", "--environment subprocess"]],
        [["--timeout", "1000"], "USAGE", ["--timeout", "--environment subprocess"]],
        [
          ["--environment", "local", "--heap-limit", "256"],
          "USAGE",
          ["heapLimitMb", "--environment subprocess"],
        ],
        [["--environment", "local", "--env", "A=1"], "USAGE", ["env", "--environment subprocess"]],
        [["--environment", "docker"], "UNKNOWN_TYPE", ["docker", "local", "subprocess"]],
        [["--environment", "subprocess", "--env", "NOEQUALS"], "USAGE", ["--env", "NAME=value"]],
        [["--environment", "subprocess", "--approve", "greet-1"], "USAGE", ["--approve"]],
        [["--environment", "subprocess", "--timeout", "-5"], "USAGE", ["-5"]],
      ];
      const results = await Promise.all(cases.map(([args]) => greet(home, out, args)));
      cases.forEach(([args, code, says], i) => {
        const result = results[i]!;
        assert.equal(result.code, 2, `${args.join(" ")}\n${explain(result)}`);
        const line = result.stderr.split("\n").find((l) => l.startsWith("error:")) ?? "";
        assert.ok(line.endsWith(`(${code})`), `${args.join(" ")}: ${line}`);
        for (const part of says) {
          if (typeof part === "string")
            assert.ok(line.includes(part), `${args.join(" ")}: ${line} should say ${part}`);
          else assert.match(line, part);
        }
      });
      assert.equal(await readJson(out), undefined, "no flow ran");
    });
  });
});
