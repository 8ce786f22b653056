import type { Command } from "commander";
import type { CliContext } from "../context.ts";
import { type CheckFlags, STRICT_DEFAULT_OPTIONS } from "./check-options.ts";

/** `weft check <file…>`: type-checks flow files with the project's TypeScript and tsconfig. */
export function registerCheckCommand(program: Command, cli: CliContext): void {
  program
    .command("check")
    .summary("type-check flow files")
    .description(
      "Type-check flow files (and what they import) with TypeScript and the project's compiler options, and print each problem as file:line:col: message (TScode). weft run does not type-check: it strips the types and runs. The options come from the nearest tsconfig.json above the first file, or --project; only the files given are checked, not the tsconfig's include set. TypeScript is the project's own (its node_modules), else the one weft can resolve.",
    )
    .argument("<file...>", "the .ts files to check")
    .option(
      "-p, --project <path>",
      "the tsconfig.json whose compiler options apply, or a directory holding one (default: the nearest tsconfig.json above the first file)",
    )
    .option("--json", "print one JSON document with the diagnostics on stdout")
    .addHelpText(
      "after",
      `\nWithout a tsconfig.json, these compiler options apply (the strict default):\n${wrap(
        Object.entries(STRICT_DEFAULT_OPTIONS)
          .map(([name, value]) => `${name}: ${String(value)}`)
          .join(", "),
      )}\n\nDiagnostics go to stdout, one line each; the summary to stderr.\nExit codes: 0 no type errors, 1 type errors, 2 bad input (a file that does not\nexist, TypeScript not installed, a tsconfig that does not parse).\n\nExamples:\n  weft check examples/etl.ts\n  weft check flows/*.ts --project tsconfig.flows.json\n  weft check examples/etl.ts --json\n`,
    )
    .action(async (files: string[], flags: CheckFlags) => {
      const { checkAction } = await import("./check-action.ts");
      checkAction(files, flags, cli);
    });
}

/** Word-wraps `text` at 80 columns, each line indented by two spaces. */
function wrap(text: string): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > 78) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  lines.push(line);
  return lines.map((l) => `  ${l}`).join("\n");
}
