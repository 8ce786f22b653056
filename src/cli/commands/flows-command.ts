import type { Command } from "commander";
import type { SerializedSchedule } from "../../serialization/schemas.ts";
import { type ApiFlags, addApiFlags, clientFromFlags, collectPages } from "../api-flags.ts";
import { type CliContext, positiveInt } from "../context.ts";
import { writeRows } from "../output.ts";

/** A schedule in a few words: `cron "0 2 * * *" Europe/Paris`, `every 60 s`, `3 dates`. */
export function describeSchedule(schedule: SerializedSchedule | undefined): string {
  if (schedule === undefined) return "";
  switch (schedule.type) {
    case "cron":
      return `cron "${schedule.expression}" ${schedule.timezone}`;
    case "interval":
      return `every ${schedule.every / 1000} s`;
    case "dates":
      return `${schedule.dates.length} date${schedule.dates.length === 1 ? "" : "s"}`;
  }
}

/** `weft flows ls`: the flows registered with the server. */
export function registerFlowsCommand(program: Command, cli: CliContext): void {
  const flows = program
    .command("flows")
    .summary("list the flows registered with the server")
    .description("Flows registered with the weft server (see weft register).")
    .addHelpText("after", "\nExamples:\n  weft flows ls\n");
  addApiFlags(
    flows
      .command("ls")
      .summary("list registered flows (the active version of each, newest first)")
      .option("--name <name>", "only versions of this flow")
      .option("--all", "archived versions too")
      .option("--limit <n>", "at most this many (default 100)", positiveInt),
    "read",
  )
    .addHelpText("after", "\nExamples:\n  weft flows ls\n  weft flows ls --name etl --all --json\n")
    .action(async (flags: ApiFlags & { name?: string; all?: boolean; limit?: number }) => {
      const api = await clientFromFlags(flags);
      const limit = flags.limit ?? 100;
      const items = await collectPages(limit, 500, (n, cursor) =>
        api.listFlows({
          ...(flags.name === undefined ? {} : { name: flags.name }),
          archived: flags.all ? "all" : "false",
          limit: n,
          ...(cursor === undefined ? {} : { cursor }),
        }),
      );
      if (flags.json) {
        cli.stdout.write(`${JSON.stringify({ items })}\n`);
        return;
      }
      const rows = items.map((f) => [
        f.name,
        `v${f.version}${f.archived ? " (archived)" : ""}`,
        f.id,
        f.labels.join(","),
        describeSchedule(f.schedule),
        f.createdAt,
      ]);
      writeRows(
        cli,
        ["FLOW", "VERSION", "ID", "LABELS", "SCHEDULE", "REGISTERED"],
        rows,
        "no flows registered yet (weft register <file>)",
      );
    });
}
