import { type Command, InvalidArgumentError } from "commander";
import type { ConcurrencyLimitRecord } from "../../serialization/api-schemas.ts";
import { type ApiFlags, addApiFlags, clientFromFlags } from "../api-flags.ts";
import type { CliContext } from "../context.ts";
import { writeRows } from "../output.ts";

/** A limit's size: a whole number from 0 (hold every task run with the tag) up. */
function slotCount(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n) || n < 0 || n > 1_000_000)
    throw new InvalidArgumentError(
      `expected a whole number of slots from 0 to 1000000, got ${JSON.stringify(value)}`,
    );
  return n;
}

function describeLimit(limit: ConcurrencyLimitRecord): string {
  return `concurrency limit "${limit.tag}": ${limit.limit} slot(s), ${limit.active} taken`;
}

/**
 * `weft limits set | list | delete`: concurrency limits by task tag, kept by the
 * server: across every run and agent, at most n task runs carrying the tag run at once.
 */
export function registerLimitsCommand(program: Command, cli: CliContext): void {
  const limits = program
    .command("limits")
    .summary("set, list and delete concurrency limits by task tag")
    .description(
      "Concurrency limits by task tag, enforced by the server across every run and agent: at most n task runs carrying the tag are Running at once; the others wait (Pending, saying which limit) and start when a slot frees. Runs without a server (weft run, flow.run()) ignore them.",
    )
    .addHelpText(
      "after",
      "\nExamples:\n  weft limits set database 2\n  weft limits list\n  weft limits delete database\n",
    );

  addApiFlags(
    limits
      .command("set")
      .summary("set (create or change) the limit of a tag (admin scope)")
      .argument("<tag>", 'a task tag (`task(..., { tags: ["database"] })`)')
      .argument("<n>", "how many task runs with the tag may run at once (0: none)", slotCount),
    "admin",
  )
    .addHelpText("after", "\nExamples:\n  weft limits set database 2\n  weft limits set gpu 0\n")
    .action(async (tag: string, n: number, flags: ApiFlags) => {
      const api = await clientFromFlags(flags);
      const limit = await api.setConcurrencyLimit(tag, n);
      if (flags.json) cli.stdout.write(`${JSON.stringify(limit)}\n`);
      else cli.stdout.write(`${describeLimit(limit)}\n`);
    });

  addApiFlags(
    limits.command("list").alias("ls").summary("list the limits and how many slots are taken"),
    "read",
  )
    .addHelpText("after", "\nExamples:\n  weft limits list\n  weft limits list --json\n")
    .action(async (flags: ApiFlags) => {
      const api = await clientFromFlags(flags);
      const items = await api.listConcurrencyLimits();
      if (flags.json) {
        cli.stdout.write(`${JSON.stringify({ items })}\n`);
        return;
      }
      writeRows(
        cli,
        ["TAG", "LIMIT", "ACTIVE", "UPDATED"],
        items.map((l) => [l.tag, String(l.limit), String(l.active), l.updatedAt]),
        "no concurrency limits (weft limits set <tag> <n>)",
      );
    });

  addApiFlags(
    limits
      .command("delete")
      .alias("rm")
      .summary("remove the limit of a tag: its waiting task runs start (admin scope)")
      .argument("<tag>", "the tag"),
    "admin",
  )
    .addHelpText("after", "\nExamples:\n  weft limits delete database\n")
    .action(async (tag: string, flags: ApiFlags) => {
      const api = await clientFromFlags(flags);
      const limit = await api.deleteConcurrencyLimit(tag);
      if (flags.json) cli.stdout.write(`${JSON.stringify(limit)}\n`);
      else cli.stdout.write(`deleted ${describeLimit(limit)}\n`);
    });
}
