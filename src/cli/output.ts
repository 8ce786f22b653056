import { isWeftError } from "../core/errors.ts";
import type { State } from "../core/states.ts";
import type { CliContext } from "./context.ts";

/** Exit codes shared by every command. */
export const EXIT = { ok: 0, failed: 1, usage: 2, interrupted: 130 } as const;

/** An error that ends a command with a given exit code and message (already worded for people). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code = "USAGE",
    readonly hint?: string,
  ) {
    super(message);
    this.name = "CliError";
  }
}

/** `error: … (CODE)` and optionally `hint: …`; the stack only when verbose. */
export function formatError(error: unknown, verbose: boolean): string {
  const lines: string[] = [];
  // The error is one line and the hint another, whatever their text holds (--verbose shows all).
  const oneLine = (text: string) => text.replace(/\s*\n\s*/g, " ").trim();
  if (error instanceof CliError || isWeftError(error)) {
    lines.push(`error: ${oneLine(error.message)} (${error.code})`);
    if (error.hint) lines.push(`hint: ${oneLine(error.hint)}`);
  } else if (error instanceof Error) {
    lines.push(`error: ${oneLine(error.message)} (INTERNAL)`);
    if (!verbose) lines.push("hint: run again with --verbose for the stack trace");
  } else {
    lines.push(`error: ${String(error)} (INTERNAL)`);
  }
  if (verbose) {
    // The stack of the error, then of each cause: the user's module is usually in a cause.
    let current: unknown = error;
    for (let depth = 0; current instanceof Error && depth < 5; depth++) {
      if (current.stack) lines.push(depth === 0 ? current.stack : `caused by: ${current.stack}`);
      current = current.cause;
    }
  }
  return `${lines.join("\n")}\n`;
}

/** Weft error codes that mean something failed (exit 1) rather than that the input was wrong (exit 2). */
const FAILURE_CODES: ReadonlySet<string> = new Set([
  "WORKER_FAILED",
  "STORAGE_UNREACHABLE",
  "STORAGE_BUILD_FAILED",
  "STORAGE_HASH_MISMATCH",
]);

/** The exit code for a flow run's final state: 0 Success, 130 Cancelled, 1 anything else. */
export function exitCodeFor(state: State): number {
  return state.type === "Success"
    ? EXIT.ok
    : state.type === "Cancelled"
      ? EXIT.interrupted
      : EXIT.failed;
}

/** The exit code for an error: bad input is 2, a failure 1. */
export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  if (isWeftError(error)) return FAILURE_CODES.has(error.code) ? EXIT.failed : EXIT.usage;
  return EXIT.failed;
}

/** Renders rows as a left-aligned text table with a header. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n") + "\n";
}

/**
 * Rows on stdout under their header: a table on a terminal, tab-separated
 * lines otherwise (`--json` is the form for scripts).
 */
export function writeRows(
  cli: CliContext,
  header: readonly string[],
  rows: readonly (readonly string[])[],
  empty: string,
): void {
  if (!cli.stdout.isTTY) {
    for (const row of [header, ...rows]) cli.stdout.write(`${row.join("\t")}\n`);
  } else cli.stdout.write(rows.length === 0 ? `${empty}\n` : table(header, rows));
}

/** The line a starting server prints about its web UI: where it is, or how to build it. */
export function uiLine(server: {
  readonly url: string;
  readonly ui: { readonly dir: string; readonly built: boolean } | undefined;
}): string {
  if (server.ui === undefined) return "web UI: off";
  return server.ui.built
    ? `web UI: ${server.url}/`
    : `web UI: not built (no ${server.ui.dir}); build it with \`npm run build\` in a checkout of weft`;
}
