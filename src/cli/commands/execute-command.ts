import type { Command } from "commander";
import { WeftError } from "../../core/errors.ts";
import { ConsoleReporter } from "../../engine/reporters/console-reporter.ts";
import { storageFromJSON } from "../../storage/registry.ts";
import type { CliContext } from "../context.ts";
import { CliError, EXIT } from "../output.ts";

interface ExecuteFlags {
  location?: string;
  storage?: string;
  flowRunId?: string;
  paramsJson?: string;
}

/**
 * `weft execute`: the entry point of a flow-run process. Everything comes from
 * environment variables (flags override): WEFT_FLOW_LOCATION, WEFT_STORAGE (JSON),
 * WEFT_FLOW_RUN_ID, WEFT_PARAMETERS (JSON). Exit 0 when the flow succeeded,
 * 1 when it failed (or could not be loaded), 2 when its inputs were wrong.
 */
export function registerExecuteCommand(program: Command, cli: CliContext): void {
  program
    .command("execute")
    .summary("run one flow run from environment variables (for agents and environments)")
    .description(
      "Run one flow run, learning everything from the environment: WEFT_FLOW_LOCATION, WEFT_STORAGE (the storage as JSON), WEFT_FLOW_RUN_ID and WEFT_PARAMETERS (JSON). Flags override the variables.",
    )
    .option("--location <location>", "the flow's location in its storage (WEFT_FLOW_LOCATION)")
    .option("--storage <json>", "the storage as JSON (WEFT_STORAGE)")
    .option("--flow-run-id <id>", "the flow run's id (WEFT_FLOW_RUN_ID)")
    .option("--params-json <json>", "parameter values as a JSON object (WEFT_PARAMETERS)")
    .addHelpText(
      "after",
      '\nExamples:\n  WEFT_FLOW_LOCATION=…#etl WEFT_STORAGE=\'{"type":"local",…}\' weft execute\n',
    )
    .action(async (flags: ExecuteFlags) => {
      const env = process.env;
      const location = flags.location ?? required(env.WEFT_FLOW_LOCATION, "WEFT_FLOW_LOCATION");
      const storageJson = parseJson(
        flags.storage ?? required(env.WEFT_STORAGE, "WEFT_STORAGE"),
        "WEFT_STORAGE",
      );
      const paramsText = flags.paramsJson ?? env.WEFT_PARAMETERS;
      const parameters =
        paramsText === undefined || paramsText === ""
          ? {}
          : parseJson(paramsText, "WEFT_PARAMETERS");
      if (parameters === null || typeof parameters !== "object" || Array.isArray(parameters)) {
        throw new WeftError(
          "ENV_VAR_INVALID",
          "WEFT_PARAMETERS must be a JSON object of parameter values",
        );
      }
      const flowRunId = flags.flowRunId ?? env.WEFT_FLOW_RUN_ID;
      const storage = storageFromJSON(storageJson);
      let runner: Awaited<ReturnType<typeof storage.getRunner>>;
      try {
        runner = await storage.getRunner(location);
      } catch (error) {
        // The inputs were well formed but the code could not be loaded: the run failed.
        if (error instanceof Error)
          throw new CliError(
            error.message,
            EXIT.failed,
            (error as { code?: string }).code ?? "LOAD_FAILED",
          );
        throw error;
      }
      const controller = new AbortController();
      const stop = cli.onInterrupt(() => controller.abort());
      try {
        const run = await runner.run({
          parameters: parameters as Record<string, unknown>,
          reporter: new ConsoleReporter({ stream: cli.stderr, live: false }),
          signal: controller.signal,
          ...(flowRunId ? { flowRunId } : {}),
        });
        const type = run.state.type;
        cli.exitCode =
          type === "Success" ? EXIT.ok : type === "Cancelled" ? EXIT.interrupted : EXIT.failed;
      } finally {
        stop();
      }
    });
}

function required(value: string | undefined, name: string): string {
  if (value === undefined || value === "") {
    throw new WeftError("ENV_VAR_INVALID", `${name} is not set`, {
      hint: "weft execute is started by agents and environments, which set it",
    });
  }
  return value;
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new WeftError(
      "ENV_VAR_INVALID",
      `${name} is not valid JSON: ${(error as Error).message}`,
    );
  }
}
