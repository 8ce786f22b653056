// The executor flags are derived from the executor kinds' descriptors
// (core/executor-spec.ts): a kind's flag and help appear on the commands that take
// them, only when the command line names such a command (start-up stays light).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Command } from "commander";
import { addExecutorFlags, addExecutorFlagsFor } from "../../src/cli/executor-flags.ts";
import { EXECUTOR_SPECS, FLOW_EXECUTOR_KINDS } from "../../src/core/executor-spec.ts";
import { runCli } from "../support/cli.ts";

function program(): { program: Command; run: Command; other: Command } {
  const program = new Command();
  const run = addExecutorFlags(program.command("run"), {
    short: "-e",
    help: (kinds) => `kinds: ${kinds}`,
    options: true,
  });
  const other = addExecutorFlags(program.command("other"), {
    help: (kinds) => kinds,
    options: false,
  });
  return { program, run, other };
}

describe("executor flags", () => {
  test("each flow-chosen kind's flags are added, their help naming the kinds that take them", async () => {
    const { program: p, run, other } = program();
    await addExecutorFlagsFor(p, ["run", "flows.ts"]);
    const executor = run.options.find((o) => o.long === "--executor");
    assert.equal(executor?.short, "-e");
    assert.equal(executor?.description, `kinds: ${FLOW_EXECUTOR_KINDS.join(" | ")}`);
    for (const kind of FLOW_EXECUTOR_KINDS) {
      for (const flag of Object.values(EXECUTOR_SPECS[kind].flags)) {
        const option = run.options.find((o) => flag.flag.startsWith(`${o.long} `));
        assert.ok(option, `${kind}: ${flag.flag}`);
        assert.ok(option.description.startsWith(flag.help), option.description);
        assert.ok(option.description.includes(kind), option.description);
      }
    }
    assert.deepEqual(other.options, [], "a command the line does not name gets none");
  });

  test("weft run refuses a bad --max-workers and an unknown --executor as before", async () => {
    const zero = await runCli([
      "run",
      "nowhere.ts",
      "--executor",
      "worker-threads",
      "--max-workers",
      "0",
    ]);
    assert.equal(zero.code, 2, zero.stderr);
    const help = await runCli(["run", "--help"]);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /--max-workers <n> +threads in the pool \(worker-threads\)/);
  });
});
