// Every bad input to `weft run` and `weft graph` ends with one clear line that
// names the problem, the right exit code, and no stack trace (unless --verbose).
// The command runs in process (test/support/cli.ts): the exit code is main's.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runCli, runCliOnce } from "../support/cli.ts";
import {
  assertCliError,
  assertNoStack,
  assertStack,
  cliFixtures,
  parseJsonRun,
  taskOf,
} from "../support/cli-result.ts";

const f = (name: string) => `${cliFixtures}/${name}`;

describe("weft run: the flow file", { concurrency: true }, () => {
  it("refuses a file that does not exist, naming it (exit 2)", async () => {
    const result = await runCli(["run", f("no-such-flow.ts")]);
    assertCliError(result, {
      code: "FLOW_MODULE_NOT_FOUND",
      says: ["flow file not found", f("no-such-flow.ts")],
    });
  });

  it("refuses a file that exports no flow, with a hint", async () => {
    const result = await runCli(["run", f("no-flow.ts")]);
    assertCliError(result, {
      code: "NO_FLOW_IN_MODULE",
      says: [f("no-flow.ts"), "exports no flow"],
      hint: "export const",
    });
  });

  it("lists the flows when a file exports several and --flow is missing", async () => {
    const result = await runCli(["run", f("two-flows.ts")]);
    assertCliError(result, {
      code: "AMBIGUOUS_FLOW",
      says: ["exports 2 flows: alpha, beta"],
      hint: "--flow",
    });
  });

  it("runs the flow that --flow names", async () => {
    const result = await runCli(["run", f("two-flows.ts"), "--flow", "beta", "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const run = parseJsonRun(result);
    assert.equal(run.flow, "beta");
    assert.equal(run.state.type, "Success");
  });

  it("refuses a --flow that the file does not export, listing the flows there", async () => {
    const result = await runCli(["run", f("two-flows.ts"), "--flow", "gamma"]);
    assertCliError(result, {
      code: "FLOW_NOT_FOUND",
      says: ['no flow named "gamma"'],
      hint: "its flows: alpha, beta",
    });
  });

  it("refuses two flows with one name in a file, naming both exports", async () => {
    const result = await runCli(["run", f("duplicate-flow-name.ts"), "--flow", "report"]);
    assertCliError(result, {
      code: "DUPLICATE_FLOW_NAME",
      says: ['two flows named "report"', "daily", "weekly"],
    });
  });

  it("shows the error of a module that throws at import (exit 2)", async () => {
    const result = await runCli(["run", f("import-throws.ts")]);
    assertCliError(result, {
      code: "FLOW_MODULE_IMPORT_FAILED",
      says: [f("import-throws.ts"), "WEFT_TEST_DATABASE_URL is not set"],
    });
  });

  it("shows the stacks with --verbose, down to the line of the module that threw", async () => {
    const result = await runCli(["run", f("import-throws.ts"), "--verbose"]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^error: .*WEFT_TEST_DATABASE_URL is not set/m);
    assertStack(result.stderr);
    // The wrapper's stack points into weft; its cause's points at the user's module.
    assert.match(result.stderr, /import-throws\.ts:\d+/);
  });

  it("shows a non-Error value thrown at import as the value, not [object Object]", async () => {
    const result = await runCli(["run", f("throws-at-import-non-error.ts")]);
    const line = assertCliError(result, {
      code: "FLOW_MODULE_IMPORT_FAILED",
      says: [f("throws-at-import-non-error.ts"), "config file missing", "weft.config.json"],
    });
    assert.doesNotMatch(line, /\[object Object\]/);
  });
});

describe("weft run: the flow's definition", { concurrency: true }, () => {
  it("names the cycle made with .after() (exit 2)", async () => {
    const result = await runCli(["run", f("cycle.ts")]);
    assertCliError(result, {
      code: "GRAPH_CYCLE",
      says: ['flow "loop" has a cycle: load-1 → extract-1 → load-1'],
      hint: ".after()",
    });
  });

  it("refuses negative retries, naming the file, the task, the option and the value", async () => {
    const result = await runCli(["run", f("negative-retries.ts")]);
    // The task's own error code survives the import of its module.
    assertCliError(result, {
      code: "INVALID_TASK_OPTIONS",
      says: [f("negative-retries.ts"), 'task "fetch-page"', "option retries", "(got -1)"],
    });
  });

  it("refuses a negative timeout, naming the file, the task, the option and the value", async () => {
    const result = await runCli(["run", f("negative-timeout.ts")]);
    assertCliError(result, {
      code: "INVALID_TASK_OPTIONS",
      says: [f("negative-timeout.ts"), 'task "fetch-page"', "option timeout", "(got -5)"],
    });
  });

  it("refuses an unknown trigger, naming it and the known ones", async () => {
    const result = await runCli(["run", f("unknown-trigger.ts")]);
    assertCliError(result, {
      code: "INVALID_TASK_OPTIONS",
      says: [
        f("unknown-trigger.ts"),
        'task "notify"',
        "option trigger",
        '(got "any_fialed")',
        '"any_failed"',
        '"all_finished"',
      ],
    });
  });

  it("shows a non-Error value thrown by a flow builder as the value", async () => {
    const result = await runCli(["run", f("builder-throws-non-error.ts")]);
    assertCliError(result, {
      code: "FLOW_BUILD_FAILED",
      says: ['building flow "broken" threw', "no tables configured"],
    });
  });

  // Input-less nodes once shared one upstream array, which .after() pushed into:
  // every such node then waited for the others, a cycle that was not there.
  it("runs tasks without inputs in the order .after() gives them", async () => {
    const result = await runCli(["run", f("after-without-inputs.ts"), "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const run = parseJsonRun(result);
    assert.deepEqual(
      run.tasks.map((t) => [t.slug, t.type]),
      [
        ["extract-1", "Success"],
        ["load-1", "Success"],
        ["notify-1", "Success"],
      ],
    );
  });
});

describe("weft run: parameters", { concurrency: true }, () => {
  it("refuses an unknown --param, listing the flow's parameters", async () => {
    const result = await runCli(["run", f("params.ts"), "--param", "colour=red"]);
    assertCliError(result, {
      code: "UNKNOWN_PARAMETER",
      says: ['flow "greet" has no parameter "colour"'],
      hint: "its parameters: word, times",
    });
  });

  it("refuses an unknown parameter in --params-json", async () => {
    const result = await runCli(["run", f("params.ts"), "--params-json", '{"colour":"red"}']);
    assertCliError(result, { code: "UNKNOWN_PARAMETER", says: ['no parameter "colour"'] });
  });

  it("refuses __proto__, constructor and prototype as parameter names (--param, --params-json)", async () => {
    for (const name of ["__proto__", "constructor", "prototype"]) {
      const flag = await runCli(["run", f("params.ts"), "--param", `${name}={"polluted":true}`]);
      assertCliError(flag, {
        code: "INVALID_PARAMETER",
        says: [`--param`, `"${name}" is reserved`],
      });
      const json = await runCli([
        "run",
        f("params.ts"),
        "--params-json",
        `{"${name}": {"polluted": true}}`,
      ]);
      assertCliError(json, {
        code: "INVALID_PARAMETER",
        says: ["--params-json", `"${name}" is reserved`],
      });
    }
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
  });

  it("refuses a --param value of the wrong type, naming the value and the type", async () => {
    const result = await runCli(["run", f("params.ts"), "--param", "times=many"]);
    assertCliError(result, {
      code: "INVALID_PARAMETER",
      says: ['parameter "times"', "must be a number", '"many"'],
    });
  });

  it("refuses a --params-json value of the wrong type", async () => {
    const result = await runCli(["run", f("params.ts"), "--params-json", '{"times":"3"}']);
    assertCliError(result, {
      code: "INVALID_PARAMETER",
      says: ['parameter "times"', "must be a number", '"3"'],
    });
  });

  it("refuses malformed --params-json", async () => {
    const result = await runCli(["run", f("params.ts"), "--params-json", '{"times": 3']);
    assertCliError(result, { code: "USAGE", says: ["--params-json is not valid JSON"] });
  });

  it("refuses --params-json that is not an object", async () => {
    const result = await runCli(["run", f("params.ts"), "--params-json", "[3]"]);
    assertCliError(result, { code: "USAGE", says: ["--params-json must be a JSON object"] });
  });

  it("refuses a --param without a value", async () => {
    const result = await runCli(["run", f("params.ts"), "--param", "times"]);
    assertCliError(result, { code: "USAGE", says: ['--param "times" must look like name=value'] });
  });

  it("parses --param by the parameter's type, and --param wins over --params-json", async () => {
    const result = await runCli([
      "run",
      f("params.ts"),
      "--params-json",
      '{"word":"ho","times":5}',
      "--param",
      "times=3",
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(parseJsonRun(result).parameters, { word: "ho", times: 3 });
  });
});

describe("weft run: executors and task failures", { concurrency: true }, () => {
  it("refuses an unknown --executor, listing the known ones", async () => {
    const result = await runCli(["run", f("params.ts"), "--executor", "warp-drive"]);
    assertCliError(result, {
      code: "INVALID_EXECUTOR",
      says: ['unknown executor "warp-drive"'],
      hint: "serial, concurrent, worker-threads",
    });
  });

  it("refuses --max-concurrency without --executor", async () => {
    const result = await runCli(["run", f("params.ts"), "--max-concurrency", "4"]);
    assertCliError(result, { code: "USAGE", says: ["--max-concurrency", "--executor"] });
  });

  it("fails the run when a task throws a non-Error value, and shows the value (exit 1)", async () => {
    const result = await runCli(["run", f("throws-non-error.ts"), "--json"]);
    assert.equal(result.code, 1, result.stderr);
    const shown = "threw a non-Error value: { reason: 'card declined', code: 402 }";
    assert.ok(result.stderr.includes(`task charge-1 Failed (`), result.stderr);
    assert.ok(result.stderr.includes(shown), result.stderr);
    assertNoStack(result.stderr);
    const run = parseJsonRun(result);
    assert.equal(run.state.type, "Failed");
    const charge = taskOf(run, "charge-1");
    assert.equal(charge.type, "Failed");
    assert.equal(charge.message, shown);
    // An error is data: its type says that no Error was thrown.
    assert.equal(charge.error?.type, "NonError");
  });

  it("shows a non-Error value thrown on a worker thread too", async () => {
    const result = await runCliOnce([
      "run",
      f("throws-non-error.ts"),
      "--executor",
      "worker-threads",
      "--max-workers",
      "1",
      "--json",
    ]);
    assert.equal(result.code, 1, result.stderr);
    const charge = taskOf(parseJsonRun(result), "charge-1");
    assert.equal(charge.type, "Failed");
    assert.equal(charge.error?.type, "NonError");
    assert.match(charge.message ?? "", /\{ reason: 'card declined', code: 402 \}/);
  });

  it("gives a non-Error value thrown on a worker thread no stack of weft's own", async () => {
    const result = await runCliOnce([
      "run",
      f("throws-non-error.ts"),
      "--executor",
      "worker-threads",
      "--max-workers",
      "1",
      "--json",
    ]);
    const charge = taskOf(parseJsonRun(result), "charge-1");
    assert.doesNotMatch(charge.error?.stack ?? "", /worker-threads-executor\.ts/);
  });

  it("fails a task whose result cannot leave its worker thread, naming the task (exit 1)", async () => {
    const result = await runCli([
      "run",
      f("unclonable-result.ts"),
      "--executor",
      "worker-threads",
      "--max-workers",
      "1",
    ]);
    assert.equal(result.code, 1, result.stderr);
    const line = result.stderr.split("\n").find((l) => l.startsWith("task connect-1 Failed"));
    assert.ok(line, result.stderr);
    assert.match(line, /the result of task connect-1 cannot cross from its worker thread/);
    assert.match(line, /could not be cloned/);
    assert.match(result.stdout, /^connect-1\s+Failed\s/m);
    assertNoStack(result.stdout + result.stderr);
  });
});

describe("weft: usage errors", { concurrency: true }, () => {
  it("refuses an unknown --format of weft graph", async () => {
    const result = await runCli(["graph", f("params.ts"), "--format", "svg"]);
    assertCliError(result, { code: "USAGE", says: ['unknown --format "svg"', "mermaid, dot"] });
  });

  it("names the cycle in weft graph too", async () => {
    const result = await runCli(["graph", f("cycle.ts")]);
    assertCliError(result, { code: "GRAPH_CYCLE", says: ["load-1 → extract-1 → load-1"] });
  });

  it("refuses a non-positive --max-workers (exit 2)", async () => {
    const result = await runCli([
      "run",
      f("params.ts"),
      "--executor",
      "worker-threads",
      "--max-workers",
      "0",
    ]);
    assertCliError(result, {
      code: "USAGE",
      says: ["--max-workers", 'expected a positive integer, got "0"'],
    });
  });

  it("refuses an unknown option in the voice of every other error (exit 2)", async () => {
    const result = await runCli(["run", f("params.ts"), "--bogus"]);
    assertCliError(result, { code: "USAGE", says: ["unknown option '--bogus'"], hint: "--help" });
  });

  it("refuses a missing file argument (exit 2)", async () => {
    const result = await runCli(["run"]);
    assertCliError(result, {
      code: "USAGE",
      says: ["missing required argument 'file'"],
      hint: "--help",
    });
  });
});
