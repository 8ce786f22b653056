import type { Command } from "commander";
import { loadFlowFile, pickFlow } from "../../engine/flow-loader.ts";
import type { CliContext } from "../context.ts";
import { table } from "../output.ts";
import { addStorageFlags, type StorageFlags, storageFromFlags } from "../storage-flags.ts";

/** `weft build <file> --storage <kind>`: bundles and stores flows, printing each location and labels. */
export function registerBuildCommand(program: Command, cli: CliContext): void {
  const command = program
    .command("build")
    .summary("bundle a file's flows into a storage")
    .description(
      "Bundle the flows of a file (or one of them) into a storage and print each flow's location and labels.",
    )
    .argument("<file>", "a .ts or .js file that exports flows")
    .option("-f, --flow <name>", "only this flow")
    .option("--json", "print one JSON document on stdout");
  addStorageFlags(command, true)
    .addHelpText(
      "after",
      "\nExamples:\n  weft build examples/etl.ts --storage local\n  weft build examples/etl.ts --storage s3 --bucket flows --endpoint http://127.0.0.1:7480 --path-style\n",
    )
    .action(async (file: string, flags: StorageFlags & { flow?: string; json?: boolean }) => {
      const all = await loadFlowFile(file);
      const flows = flags.flow === undefined ? all : [pickFlow(all, flags.flow, file)];
      const storage = (await storageFromFlags(flags))!;
      const locations = flows.map((flow) => ({ flow: flow.name, location: storage.addFlow(flow) }));
      await storage.build();
      if (flags.json) {
        cli.stdout.write(
          `${JSON.stringify({ storage: storage.toJSON(), labels: storage.labels, flows: locations })}\n`,
        );
        return;
      }
      cli.stderr.write(
        `built into ${storage.type} storage ${storage.name}${storage.labels.length ? ` (labels: ${storage.labels.join(", ")})` : ""}\n`,
      );
      cli.stdout.write(
        table(
          ["FLOW", "LOCATION", "LABELS"],
          locations.map((l) => [l.flow, l.location, storage.labels.join(",")]),
        ),
      );
    });
}
