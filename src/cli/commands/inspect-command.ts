import type { Command } from "commander";
import { loadFlowFile, pickFlow } from "../../engine/flow-loader.ts";
import type { CliContext } from "../context.ts";
import { addStorageFlags, type StorageFlags, storageFromFlags } from "../storage-flags.ts";

/** `weft inspect <file>`: prints a flow as serialized JSON (built into a storage with --storage). */
export function registerInspectCommand(program: Command, cli: CliContext): void {
  const command = program
    .command("inspect")
    .summary("print a flow as serialized JSON")
    .description(
      "Print a flow's serialized form: parameters, tasks, edges, reference tasks, schedule and labels; with --storage, built into that storage with its location.",
    )
    .argument("<file>", "a .ts or .js file that exports flows")
    .option("-f, --flow <name>", "which flow, when the file exports several");
  addStorageFlags(command, false)
    .addHelpText(
      "after",
      "\nExamples:\n  weft inspect examples/etl.ts\n  weft inspect examples/etl.ts --storage local | jq .location\n",
    )
    .action(async (file: string, flags: StorageFlags & { flow?: string }) => {
      const flow = pickFlow(await loadFlowFile(file), flags.flow, file);
      const storage = await storageFromFlags(flags);
      const { serializeFlow } = await import("../../serialization/flow-serializer.ts");
      const json = await serializeFlow(flow, storage === undefined ? {} : { build: true, storage });
      cli.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    });
}
