import { type Command, Option } from "commander";
import { type CliContext, collect, positiveInt } from "../context.ts";
import { addExecutorFlags } from "../executor-flags.ts";
import { addStorageFlags } from "../storage-flags.ts";
import type { RunFlags } from "./run-action.ts";

/** `weft run <file>`: runs a flow from a TypeScript or JavaScript file in this process. */
export function registerRunCommand(program: Command, cli: CliContext): void {
  const command = program
    .command("run")
    .summary("run a flow from a file, here and now")
    .description(
      "Run a flow defined in a TypeScript or JavaScript file, with live progress, and print its task states. By default it runs in this process; with --environment it is stored (--storage, default local) and executed through that environment, e.g. in a fresh process.",
    )
    .argument(
      "<file>",
      "a .ts or .js file that exports flows (with --remote: a registered flow's name)",
    )
    .option("-f, --flow <name>", "which flow, when the file exports several")
    .option(
      "-p, --param <name=value>",
      "a parameter value (repeatable); numbers, booleans and JSON are parsed by the parameter's type",
      collect,
      [],
    )
    .option("--params-json <json>", "parameter values as one JSON object (--param wins)")
    .option(
      "--params-file <file>",
      "parameter values as one JSON object in a file, or - for stdin (--params-json and --param win)",
    )
    .option(
      "--approve <slug>",
      "approve a waiting task (manual_only, or Pause) to run (repeatable)",
      collect,
      [],
    )
    .option(
      "--environment <kind>",
      "local | subprocess | distributed | container: run through an environment (stores the flow first)",
    )
    .addOption(
      new Option("--redis <url>", "distributed: the Redis URL of the workers").env(
        "WEFT_REDIS_URL",
      ),
    )
    .option("--queue <name>", "distributed: the queue of tasks without a queue:<name> tag")
    .option("--heap-limit <mb>", "subprocess: the child's heap limit in MB", positiveInt)
    .option(
      "--timeout <ms>",
      "subprocess: wall-clock limit of the whole run; the child's process tree is killed past it",
      positiveInt,
    )
    .option(
      "--env <name=value>",
      "subprocess: an environment variable for the child (repeatable); NAME=env:OTHER copies OTHER from this process",
      collect,
      [],
    )
    .option(
      "--result-dir <dir>",
      "persist task results as files in this directory (checkpoints, caches, resume)",
    )
    .option("--result-serializer <kind>", "json | binary (Date, Map, Set, typed arrays, BigInt)")
    .option(
      "--resume <run id>",
      "resume an earlier run: tasks whose results it persisted are not run again",
    )
    .option(
      "--remote",
      "<file> is the name of a flow registered with the server: create a run there",
    )
    .option(
      "--wait",
      "--remote: follow the run to its end; exit as a local run does (Ctrl-C cancels the run and follows it to Cancelled; Ctrl-C again stops following)",
    )
    .addOption(
      new Option("--api <url>", "--remote: the weft API")
        .env("WEFT_API_URL")
        .default("http://127.0.0.1:4200"),
    )
    .addOption(
      new Option("--token <token>", "--remote: an API token with the agent scope").env(
        "WEFT_API_TOKEN",
      ),
    )
    .option(
      "--strict",
      "fail the run (exit 1) when any task fails, not only a reference task (with --remote --wait: exit 1)",
    )
    .option("--json", "print one JSON document with the run's states on stdout");
  addExecutorFlags(command, {
    short: "-e",
    help: (kinds) => `${kinds} (default: the flow's, else concurrent)`,
    options: true,
  });
  addStorageFlags(command, false)
    .addHelpText(
      "after",
      "\nExamples:\n  weft run examples/etl.ts\n  weft run examples/map.ts --param count=1000 --executor worker-threads\n  weft run examples/etl.ts --environment subprocess --storage local --heap-limit 512 --timeout 60000\n  weft run examples/map.ts --environment distributed --storage local --redis redis://127.0.0.1:6379\n  weft run examples/map.ts --params-file params.json\n  weft run examples/map.ts --params-file - < params.json\n  weft run --remote etl --param output=out/report.md --wait\n",
    )
    .action(async (file: string, flags: RunFlags) => {
      const { runAction } = await import("./run-action.ts");
      await runAction(file, flags, cli);
    });
}
