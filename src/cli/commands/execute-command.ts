import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import type { ExecuteFlags } from "./execute-action.ts";

/**
 * `weft execute`: the entry point of a flow-run process. Everything comes from
 * environment variables (flags override): WEFT_FLOW_LOCATION, WEFT_STORAGE (JSON),
 * WEFT_FLOW_RUN_ID, WEFT_PARAMETERS (JSON), WEFT_EXECUTOR (a kind or JSON
 * options). Exit 0 when the flow succeeded, 1 when it failed (or could not be
 * loaded), 2 when its inputs were wrong.
 *
 * Started by the subprocess environment, it also reads WEFT_EVENTS_FD (write
 * one JSON event per line to that descriptor instead of printing progress) and
 * WEFT_EXIT_WITH_PARENT (stop, with everything it started, when stdin closes:
 * the parent died).
 */
export function registerExecuteCommand(program: Command, cli: CliContext): void {
  program
    .command("execute")
    .summary("run one flow run from environment variables (for agents and environments)")
    .description(
      "Run one flow run, learning everything from the environment: WEFT_FLOW_LOCATION, WEFT_STORAGE (the storage as JSON), WEFT_FLOW_RUN_ID, WEFT_PARAMETERS (JSON; or WEFT_PARAMETERS_FILE, a file holding it) and WEFT_EXECUTOR. Flags override the variables.",
    )
    .option("--location <location>", "the flow's location in its storage (WEFT_FLOW_LOCATION)")
    .option("--storage <json>", "the storage as JSON (WEFT_STORAGE)")
    .option("--flow-run-id <id>", "the flow run's id (WEFT_FLOW_RUN_ID)")
    .option("--params-json <json>", "parameter values as a JSON object (WEFT_PARAMETERS)")
    .addHelpText(
      "after",
      "\nExamples:\n  WEFT_FLOW_LOCATION='<hash>.mjs#etl' WEFT_STORAGE='{\"type\":\"local\",…}' weft execute\n",
    )
    .action(async (flags: ExecuteFlags) => {
      const { executeAction } = await import("./execute-action.ts");
      await executeAction(flags, cli);
    });
}
