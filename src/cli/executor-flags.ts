// The executor flags of `weft run` (`--executor`, `--max-concurrency`, `--max-workers`)
// and `weft register` (`--executor`), derived from every executor kind's descriptor
// (core/executor-spec.ts): the kinds a flow may name, and each kind's flags with their
// help. The descriptors import zod, which `weft --version` must not load (start-up is
// measured), so a command only marks itself here and `main` adds the flags before
// parsing, when the command line names such a command (as storage-flags.ts does).

import type { Command } from "commander";
import { positiveInt } from "./context.ts";

/** How a command takes the executor flags. */
export interface ExecutorFlagsOf {
  /** The short flag of `--executor` (`-e`), if any. */
  readonly short?: string;
  /** The help of `--executor`, given the kinds a flow may name ("serial | concurrent | …"). */
  readonly help: (kinds: string) => string;
  /** Add each kind's own flags too (`--max-workers <n>`). */
  readonly options: boolean;
}

const executorCommands = new WeakMap<Command, ExecutorFlagsOf>();

/** Marks a command as taking the executor flags (added by {@link addExecutorFlagsFor}). */
export function addExecutorFlags(command: Command, how: ExecutorFlagsOf): Command {
  executorCommands.set(command, how);
  return command;
}

/**
 * Adds the executor flags to the commands of `program` that take them and that `argv`
 * names. Every kind's flag takes a positive integer (`<n>`); its help ends with the
 * kinds that take it.
 */
export async function addExecutorFlagsFor(
  program: Command,
  argv: readonly string[],
): Promise<void> {
  const commands = program.commands.filter(
    (c) =>
      executorCommands.has(c) &&
      !c.options.some((o) => o.long === "--executor") &&
      [c.name(), ...c.aliases()].some((name) => argv.includes(name)),
  );
  if (commands.length === 0) return;
  const { EXECUTOR_SPECS, FLOW_EXECUTOR_KINDS } = await import("../core/executor-spec.ts");
  const flags = new Map<string, { flag: string; help: string; kinds: string[] }>();
  for (const kind of FLOW_EXECUTOR_KINDS) {
    for (const flag of Object.values(EXECUTOR_SPECS[kind].flags)) {
      const seen = flags.get(flag.flag) ?? { ...flag, kinds: [] };
      seen.kinds.push(kind);
      flags.set(flag.flag, seen);
    }
  }
  for (const command of commands) {
    const how = executorCommands.get(command) as ExecutorFlagsOf;
    const spelling = `${how.short === undefined ? "" : `${how.short}, `}--executor <kind>`;
    command.option(spelling, how.help(FLOW_EXECUTOR_KINDS.join(" | ")));
    if (!how.options) continue;
    for (const flag of flags.values()) {
      command.option(flag.flag, `${flag.help} (${flag.kinds.join(", ")})`, positiveInt);
    }
  }
}
