// Helpers shared by the environment tests: temporary directories, weft error
// assertions, polling, and pid bookkeeping so that no process is left behind
// (every pid a test learns is killed by pid in an after hook).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Logger, LogLevel } from "../../src/core/reporter.ts";
import { expectCode } from "../support/expect-code.ts";

export { expectCode };

/** The repository root. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

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

/** Polls `probe` every 25 ms until it returns a value other than undefined; fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * True while a process with this pid runs. A zombie (exited, not yet reaped by
 * its parent, which in a container may be an init that never reaps) counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  // "<pid> (<command>) <state> …": the command may hold spaces and parentheses.
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}

/** Pids that tests learned; {@link reapPids} kills whatever of them still runs. */
const known = new Set<number>();

/** Remembers pids so that {@link reapPids} kills them if the test leaves them running. */
export function trackPids(pids: readonly number[]): void {
  // An in-process environment reports this very process: never reap ourselves.
  for (const pid of pids) if (pid !== process.pid && pid !== process.ppid) known.add(pid);
}

/** Kills (SIGKILL, by pid) every tracked process that still runs. Call it in `after`. */
export function reapPids(): void {
  for (const pid of known) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  known.clear();
}

/** Reads the pids a fixture task wrote ("<pid> [<grandchild pid>]"), once the file is complete. */
export async function readPids(file: string, count: number): Promise<number[]> {
  return waitFor(`${count} pid(s) in ${file}`, async () => {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch {
      return undefined;
    }
    const pids = text.trim().split(/\s+/).filter(Boolean).map(Number);
    if (pids.length < count || pids.some((p) => !Number.isInteger(p) || p <= 0)) return undefined;
    trackPids(pids);
    return pids;
  });
}

/** Waits until none of `pids` runs; fails naming the survivors after `timeoutMs`. */
export async function assertGone(pids: readonly number[], what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pids.every((pid) => !isAlive(pid))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const alive = pids.filter(isAlive);
  assert.deepEqual(alive, [], `${what}: still running after ${timeoutMs} ms: ${alive.join(", ")}`);
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
