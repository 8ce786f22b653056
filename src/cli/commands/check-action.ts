import { existsSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import type { CliContext } from "../context.ts";
import { CliError, EXIT } from "../output.ts";
import { type CheckFlags, STRICT_DEFAULT_OPTIONS } from "./check-options.ts";
import {
  loadTypeScript,
  type TsCompilerOptions,
  type TsDiagnostic,
  type TypeScriptApi,
} from "./check-typescript.ts";

/** One problem TypeScript found, as `weft check --json` prints it. */
export interface CheckDiagnostic {
  /** The file, relative to the current directory; null for a problem of the options. */
  readonly file: string | null;
  /** 1-based; null without a file. */
  readonly line: number | null;
  /** 1-based; null without a file. */
  readonly column: number | null;
  /** TypeScript's code: 2345 for TS2345. */
  readonly code: number;
  /** The message and the messages that explain it, on one line. */
  readonly message: string;
  readonly category: "error" | "warning" | "suggestion" | "message";
}

/** What `weft check --json` prints: one document. */
export interface CheckReport {
  /** The files checked, relative to the current directory (what they import is checked too). */
  readonly files: readonly string[];
  /** The tsconfig.json whose compiler options applied; null for the strict default. */
  readonly tsconfig: string | null;
  /** The version of TypeScript that checked. */
  readonly typescript: string;
  readonly diagnostics: readonly CheckDiagnostic[];
}

/** "No inputs were found in config file": the tsconfig's own file set is not used here. */
const NO_INPUTS = 18003;

/**
 * Options that only say what a build writes and where. Checking given files
 * rather than the tsconfig's file set, some of them would fail every file
 * (`composite`: "not listed within the file list of project"; `rootDir`: "not
 * under rootDir") for reasons that have nothing to do with the files' types;
 * `emitDeclarationOnly` contradicts `noEmit`.
 */
const BUILD_ONLY_OPTIONS = [
  "composite",
  "incremental",
  "tsBuildInfoFile",
  "rootDir",
  "outDir",
  "outFile",
  "declarationDir",
  "emitDeclarationOnly",
] as const;

/** The options for checking: nothing is emitted, and what only a build needs is dropped. */
function forChecking(options: TsCompilerOptions): TsCompilerOptions {
  // What composite implies, kept: its declaration diagnostics are the project's to see.
  const checking: TsCompilerOptions =
    options.composite === true ? { ...options, declaration: true } : { ...options };
  for (const name of BUILD_ONLY_OPTIONS) delete checking[name];
  return { ...checking, noEmit: true };
}

/** What `weft check` does, in a module of its own: only this command loads TypeScript. */
export function checkAction(files: readonly string[], flags: CheckFlags, cli: CliContext): void {
  const cwd = process.cwd();
  const show = (path: string) => relative(cwd, path) || path;
  const paths = existingFiles(files);
  const tsconfig = flags.project === undefined ? nearestTsconfig(paths[0]!) : projectFile(flags);
  // Resolved as the first file would resolve it: from its directory up, past the tsconfig's.
  const { ts } = loadTypeScript(dirname(paths[0]!));
  const options =
    tsconfig === undefined ? defaultOptions(ts, dirname(paths[0]!)) : tsconfigOptions(ts, tsconfig);
  const program = ts.createProgram(paths, forChecking(options));
  const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => toCheckDiagnostic(ts, d, show));

  const errors = diagnostics.filter((d) => d.category === "error");
  cli.exitCode = errors.length > 0 ? EXIT.failed : EXIT.ok;
  if (flags.json) {
    const report: CheckReport = {
      files: paths.map(show),
      tsconfig: tsconfig === undefined ? null : show(tsconfig),
      typescript: ts.version,
      diagnostics,
    };
    cli.stdout.write(`${JSON.stringify(report)}\n`);
    return;
  }
  cli.stdout.write(diagnostics.map((d) => `${formatDiagnostic(d)}\n`).join(""));
  const checked = `${count(paths.length, "file")} with ${tsconfig === undefined ? "weft's strict default options" : show(tsconfig)}`;
  if (errors.length === 0) {
    cli.stderr.write(`checked ${checked}: no type errors (TypeScript ${ts.version})\n`);
  } else {
    const inFiles = new Set(errors.flatMap((d) => (d.file === null ? [] : [d.file]))).size;
    cli.stderr.write(
      `${count(errors.length, "error")}${inFiles > 0 ? ` in ${count(inFiles, "file")}` : ""} (checked ${checked}, TypeScript ${ts.version})\n`,
    );
  }
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/**
 * `file:line:col: message (TS2345)`, or `message (TS2345)` for a problem without
 * a file; anything but an error says what it is (`warning: …`).
 */
function formatDiagnostic(d: CheckDiagnostic): string {
  const where = d.file === null ? "" : `${d.file}:${d.line}:${d.column}: `;
  const what = d.category === "error" ? "" : `${d.category}: `;
  return `${where}${what}${d.message} (TS${d.code})`;
}

/** The files as absolute paths, once each; every one must exist. */
function existingFiles(files: readonly string[]): string[] {
  const missing = files.filter((file) => !existsSync(resolve(file)));
  if (missing.length > 0) {
    throw new CliError(
      `${missing.length === 1 ? "flow file" : "flow files"} not found: ${missing.join(", ")}`,
      EXIT.usage,
      "FLOW_MODULE_NOT_FOUND",
    );
  }
  const notFiles = files.filter((file) => !statSync(resolve(file)).isFile());
  if (notFiles.length > 0) {
    throw new CliError(
      `not a file: ${notFiles.join(", ")}`,
      EXIT.usage,
      "FLOW_MODULE_NOT_FOUND",
      "name the flow files: weft check flows/*.ts",
    );
  }
  return [...new Set(files.map((file) => resolve(file)))];
}

/** The nearest tsconfig.json in the file's directory or above it. */
function nearestTsconfig(file: string): string | undefined {
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    const candidate = join(dir, "tsconfig.json");
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** `--project`: a tsconfig file, or a directory holding tsconfig.json. */
function projectFile(flags: CheckFlags): string {
  const given = resolve(flags.project!);
  if (existsSync(given) && statSync(given).isDirectory()) {
    const inside = join(given, "tsconfig.json");
    if (existsSync(inside)) return inside;
    throw new CliError(`no tsconfig.json in ${flags.project}`, EXIT.usage, "TSCONFIG_NOT_FOUND");
  }
  if (!existsSync(given)) {
    throw new CliError(`tsconfig not found: ${flags.project}`, EXIT.usage, "TSCONFIG_NOT_FOUND");
  }
  return given;
}

/** The tsconfig's compiler options, `extends` followed; any problem with it is bad input. */
function tsconfigOptions(ts: TypeScriptApi, tsconfig: string): TsCompilerOptions {
  const shown = relative(process.cwd(), tsconfig) || tsconfig;
  let unreadable: TsDiagnostic | undefined;
  const parsed = ts.getParsedCommandLineOfConfigFile(tsconfig, undefined, {
    ...ts.sys,
    // The tsconfig's own file set (include, exclude) is not checked: no need to list it.
    readDirectory: () => [],
    onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
      unreadable = diagnostic;
    },
  });
  const problems =
    parsed === undefined
      ? unreadable === undefined
        ? []
        : [unreadable]
      : parsed.errors.filter((d) => d.code !== NO_INPUTS && categoryOf(ts, d) === "error");
  if (parsed === undefined || problems.length > 0) {
    const first = problems[0];
    const what =
      first === undefined
        ? "it could not be read"
        : formatDiagnostic(toCheckDiagnostic(ts, first, (p) => relative(process.cwd(), p) || p));
    const more = problems.length > 1 ? ` (and ${count(problems.length - 1, "more problem")})` : "";
    throw new CliError(
      `invalid tsconfig ${shown}: ${what}${more}`,
      EXIT.usage,
      "TSCONFIG_INVALID",
      `fix ${shown}, or name another with --project`,
    );
  }
  return { ...parsed.options };
}

function defaultOptions(ts: TypeScriptApi, dir: string): TsCompilerOptions {
  const { options, errors } = ts.convertCompilerOptionsFromJson(STRICT_DEFAULT_OPTIONS, dir);
  if (errors.length > 0) {
    // An old TypeScript that does not know NodeNext, for instance.
    const what = formatDiagnostic(toCheckDiagnostic(ts, errors[0]!, (p) => p));
    throw new CliError(
      `TypeScript ${ts.version} refuses weft's default compiler options: ${what}`,
      EXIT.usage,
      "TYPESCRIPT_UNSUPPORTED",
      "install TypeScript 5 (npm install -D typescript@5), or give the project a tsconfig.json",
    );
  }
  return options;
}

function categoryOf(ts: TypeScriptApi, d: TsDiagnostic): CheckDiagnostic["category"] {
  const name = (ts.DiagnosticCategory[d.category] ?? "error").toLowerCase();
  return name === "warning" || name === "suggestion" || name === "message" ? name : "error";
}

function toCheckDiagnostic(
  ts: TypeScriptApi,
  d: TsDiagnostic,
  show: (path: string) => string,
): CheckDiagnostic {
  // A chain ("Argument of type … / Type … is missing …") on one line.
  const message = ts
    .flattenDiagnosticMessageText(d.messageText, "\n")
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "")
    .join(" ");
  const at = d.file === undefined ? undefined : d.file.getLineAndCharacterOfPosition(d.start ?? 0);
  return {
    file: d.file === undefined ? null : show(d.file.fileName),
    line: at === undefined ? null : at.line + 1,
    column: at === undefined ? null : at.character + 1,
    code: d.code,
    message,
    category: categoryOf(ts, d),
  };
}
