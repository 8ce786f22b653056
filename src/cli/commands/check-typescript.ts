import { createRequire } from "node:module";
import { join } from "node:path";
import { CliError, EXIT } from "../output.ts";

// TypeScript is the user's (or, failing that, whatever copy weft can resolve): it is
// loaded at run time, by path, so only the part of its compiler API that `weft check`
// calls is declared here, and nothing of weft depends on its types.

/** Compiler options as TypeScript holds them (enum values, absolute paths). */
export type TsCompilerOptions = Record<string, unknown>;

/** A position in a file, 0-based. */
export interface TsLineAndCharacter {
  readonly line: number;
  readonly character: number;
}

/** A diagnostic's file. */
export interface TsSourceFile {
  readonly fileName: string;
  getLineAndCharacterOfPosition(position: number): TsLineAndCharacter;
}

/** A message chain: a message and the messages that explain it. */
export interface TsDiagnosticMessageChain {
  readonly messageText: string;
  readonly next?: readonly TsDiagnosticMessageChain[];
}

/** One diagnostic: a type error, a syntax error, a problem with the options. */
export interface TsDiagnostic {
  readonly file: TsSourceFile | undefined;
  readonly start: number | undefined;
  readonly code: number;
  readonly category: number;
  readonly messageText: string | TsDiagnosticMessageChain;
}

/** A program: the root files, what they import, and the options. */
export interface TsProgram {
  getRootFileNames(): readonly string[];
}

/** What reading a tsconfig needs; `ts.sys` is one. */
export interface TsParseConfigHost {
  readonly useCaseSensitiveFileNames: boolean;
  readDirectory(
    rootDir: string,
    extensions: readonly string[],
    excludes: readonly string[] | undefined,
    includes: readonly string[],
    depth?: number,
  ): readonly string[];
  fileExists(path: string): boolean;
  readFile(path: string): string | undefined;
  getCurrentDirectory(): string;
}

/** A tsconfig, read and resolved (`extends` followed). */
export interface TsParsedCommandLine {
  readonly options: TsCompilerOptions;
  readonly errors: readonly TsDiagnostic[];
}

/** The part of the `typescript` module that `weft check` uses. */
export interface TypeScriptApi {
  readonly version: string;
  readonly sys: TsParseConfigHost;
  /** The names of `DiagnosticCategory` by value (`1` → `"Error"`). */
  readonly DiagnosticCategory: Readonly<Record<number, string>>;
  getParsedCommandLineOfConfigFile(
    configFileName: string,
    optionsToExtend: TsCompilerOptions | undefined,
    host: TsParseConfigHost & {
      onUnRecoverableConfigFileDiagnostic(diagnostic: TsDiagnostic): void;
    },
  ): TsParsedCommandLine | undefined;
  convertCompilerOptionsFromJson(
    json: Readonly<Record<string, unknown>>,
    basePath: string,
  ): { options: TsCompilerOptions; errors: TsDiagnostic[] };
  createProgram(rootNames: readonly string[], options: TsCompilerOptions): TsProgram;
  getPreEmitDiagnostics(program: TsProgram): readonly TsDiagnostic[];
  flattenDiagnosticMessageText(
    message: string | TsDiagnosticMessageChain | undefined,
    newLine: string,
  ): string;
}

/** A loaded TypeScript and where it was found. */
export interface LoadedTypeScript {
  readonly ts: TypeScriptApi;
  /** The module's file (`…/node_modules/typescript/lib/typescript.js`). */
  readonly path: string;
}

const REQUIRED = [
  "getParsedCommandLineOfConfigFile",
  "convertCompilerOptionsFromJson",
  "createProgram",
  "getPreEmitDiagnostics",
  "flattenDiagnosticMessageText",
] as const;

function resolveFrom(require: NodeJS.Require): string | undefined {
  try {
    return require.resolve("typescript");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "MODULE_NOT_FOUND") return undefined;
    throw error;
  }
}

/**
 * Loads the `typescript` package the project in `projectDir` resolves, or else
 * the one this copy of weft resolves: the project's own version decides what its
 * code means. Refuses (exit 2) when there is neither, or when what is found has
 * no compiler API.
 */
export function loadTypeScript(projectDir: string): LoadedTypeScript {
  // The file name need not exist: resolution starts from its directory.
  const project = createRequire(join(projectDir, "weft-check.cjs"));
  const own = createRequire(import.meta.url);
  const fromProject = resolveFrom(project);
  const path = fromProject ?? resolveFrom(own);
  if (path === undefined) {
    throw new CliError(
      `TypeScript is not installed: weft check needs the typescript package, and neither ${projectDir} nor weft can resolve it`,
      EXIT.usage,
      "TYPESCRIPT_NOT_FOUND",
      "npm install -D typescript",
    );
  }
  let ts: Partial<TypeScriptApi>;
  try {
    ts = (fromProject === undefined ? own : project)(path) as Partial<TypeScriptApi>;
  } catch (error) {
    throw new CliError(
      `loading TypeScript from ${path} failed: ${(error as Error).message}`,
      EXIT.usage,
      "TYPESCRIPT_NOT_FOUND",
      "reinstall it: npm install -D typescript",
    );
  }
  const missing = REQUIRED.filter((name) => typeof ts[name] !== "function");
  if (missing.length > 0 || ts.sys === undefined) {
    throw new CliError(
      `the typescript package at ${path} (version ${String(ts.version)}) has no compiler API that weft check can use (missing ${missing.join(", ") || "sys"})`,
      EXIT.usage,
      "TYPESCRIPT_UNSUPPORTED",
      "install TypeScript 5: npm install -D typescript@5",
    );
  }
  return { ts: ts as TypeScriptApi, path };
}
