// Helpers shared by the environment tests: temporary directories, weft error
// assertions and a recording logger. Processes and the pids tests learn are
// tracked and reaped by test/support/weft-process.ts.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger, LogLevel } from "../../src/core/reporter.ts";
import { expectCode } from "../support/expect-code.ts";

export { repoRoot } from "../support/weft-process.ts";
export { expectCode };

/** The fixture module of the environment tests, relative to {@link repoRoot}. */
export const FLOWS_MODULE = "test/fixtures/environments/env-flows.ts";

/** Directories of one test: `tmp` for its files, `home` for a child's WEFT_HOME. */
export interface TestDirs {
  readonly tmp: string;
  readonly home: string;
}

/** A fresh temporary directory (with a `home` inside for WEFT_HOME), removed when `fn` is done. */
export async function withDirs<T>(label: string, fn: (dirs: TestDirs) => Promise<T>): Promise<T> {
  const tmp = await mkdtemp(join(tmpdir(), `weft-env-${label}-`));
  try {
    return await fn({ tmp, home: join(tmp, "home") });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** One line a {@link RecordingLogger} heard. */
export interface LoggedLine {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: Record<string, unknown> | undefined;
}

/** A logger that keeps what it hears. */
export class RecordingLogger implements Logger {
  readonly lines: LoggedLine[] = [];
  debug(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: "debug", message, fields });
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: "info", message, fields });
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: "warn", message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: "error", message, fields });
  }
}

/** Reads a JSON file a fixture task wrote, or undefined while it is absent. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}
