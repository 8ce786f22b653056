import { Command, CommanderError } from "commander";
import { packageVersion } from "../core/package.ts";
import { registerAgentCommand } from "./commands/agent-command.ts";
import { registerBuildCommand } from "./commands/build-command.ts";
import { registerCheckCommand } from "./commands/check-command.ts";
import { registerExecuteCommand } from "./commands/execute-command.ts";
import { registerFlowsCommand } from "./commands/flows-command.ts";
import { registerGraphCommand } from "./commands/graph-command.ts";
import { registerInspectCommand } from "./commands/inspect-command.ts";
import { registerLimitsCommand } from "./commands/limits-command.ts";
import { registerRegisterCommand } from "./commands/register-command.ts";
import { registerRunCommand } from "./commands/run-command.ts";
import { registerRunsCommand } from "./commands/runs-command.ts";
import { registerServerCommand } from "./commands/server-command.ts";
import { registerTokenCommand } from "./commands/token-command.ts";
import { registerUpCommand } from "./commands/up-command.ts";
import { registerWorkerCommand } from "./commands/worker-command.ts";
import type { CliContext } from "./context.ts";
import { addExecutorFlagsFor } from "./executor-flags.ts";
import { EXIT, exitCodeOf, formatError } from "./output.ts";
import { addStorageFlagsFor } from "./storage-flags.ts";

function processContext(): CliContext {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    exitCode: EXIT.ok,
    onInterrupt(
      onFirst,
      notice = "interrupted: cancelling the run (Ctrl-C again to quit now)",
      secondNotice,
    ) {
      let seen = false;
      const handler = () => {
        if (seen) {
          if (secondNotice !== undefined) process.stderr.write(`\n${secondNotice}\n`);
          process.exit(EXIT.interrupted);
        }
        seen = true;
        process.stderr.write(`\n${notice}\n`);
        onFirst();
      };
      process.on("SIGINT", handler);
      process.on("SIGTERM", handler);
      return () => {
        process.off("SIGINT", handler);
        process.off("SIGTERM", handler);
      };
    },
    divertStdout() {
      const original = process.stdout.write;
      process.stdout.write = process.stderr.write.bind(
        process.stderr,
      ) as typeof process.stdout.write;
      return () => {
        process.stdout.write = original; // idempotent
      };
    },
  };
}

/** Builds the `weft` command tree. */
export function createProgram(cli: CliContext): Command {
  const program = new Command("weft")
    .description(
      "weft: workflows of TypeScript tasks, with retries, triggers, mapping and caching.",
    )
    .version(packageVersion(), "-v, --version")
    .option("--verbose", "show stack traces with errors")
    .configureOutput({
      writeOut: (s) => cli.stdout.write(s),
      writeErr: (s) => cli.stderr.write(s),
      // Commander's refusals speak with the same voice as every other error.
      // Its second line ("(Did you mean --param?)") becomes the hint: one error line, one hint.
      outputError: (message, write) => {
        const [first = "", ...rest] = message
          .trim()
          .replace(/^error:\s*/, "")
          .split("\n")
          .map((line) => line.trim())
          .filter((line) => line !== "");
        const more = rest.join(" ").replace(/^\((.*)\)$/, "$1");
        const hint = more
          ? `${more.charAt(0).toLowerCase()}${more.slice(1)} (--help shows usage and examples)`
          : "run with --help for usage and examples";
        write(`error: ${first} (USAGE)\nhint: ${hint}\n`);
      },
    })
    .exitOverride();
  program.addHelpText(
    "after",
    "\nExamples:\n  weft run examples/etl.ts\n  weft check examples/etl.ts\n  weft graph examples/map.ts --format dot\n",
  );
  registerRunCommand(program, cli);
  registerGraphCommand(program, cli);
  registerCheckCommand(program, cli);
  registerBuildCommand(program, cli);
  registerInspectCommand(program, cli);
  registerExecuteCommand(program, cli);
  registerServerCommand(program, cli);
  registerTokenCommand(program, cli);
  registerFlowsCommand(program, cli);
  registerLimitsCommand(program, cli);
  registerRunsCommand(program, cli);
  registerRegisterCommand(program, cli);
  registerAgentCommand(program, cli);
  registerUpCommand(program, cli);
  registerWorkerCommand(program, cli);
  for (const command of program.commands) command.exitOverride();
  return program;
}

/** Runs the `weft` command with `argv` (without node and script) and returns the exit code. */
export async function main(
  argv: readonly string[],
  cli: CliContext = processContext(),
): Promise<number> {
  const program = createProgram(cli);
  try {
    await addExecutorFlagsFor(program, argv);
    await addStorageFlagsFor(program, argv);
    await program.parseAsync([...argv], { from: "user" });
    return cli.exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with 0; everything else commander refuses is bad usage.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    cli.stderr.write(
      formatError(
        error,
        program.opts<{ verbose?: boolean }>().verbose === true || argv.includes("--verbose"),
      ),
    );
    return exitCodeOf(error);
  }
}
