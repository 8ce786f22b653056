import { statSync } from "node:fs";
import type { Storage } from "../storage/storage.ts";

/**
 * The directory a flow should run in: the project directory its storage
 * recorded at registration, when that directory exists on this host
 * (undefined otherwise: the process's own working directory applies).
 */
export function projectDirectoryOf(storage: Storage, location: string): string | undefined {
  const dir = storage.workingDirectory?.(location);
  if (dir === undefined) return undefined;
  try {
    return statSync(dir).isDirectory() ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Who holds the process's working directory now, and what it was before. */
let holder: { dir: string; users: number; previous: string } | undefined;
const waiting: (() => void)[] = [];

/**
 * Runs `body` with the process's working directory at `dir` (undefined: the
 * directory the process had before any run moved it). The working directory
 * belongs to the whole process, so runs that need different ones take turns;
 * runs that need the same one share it, except that a run arriving while
 * another waits for a different directory queues behind it (a steady stream of
 * runs from one project never starves another's).
 */
export async function inWorkingDirectory<T>(
  dir: string | undefined,
  body: () => Promise<T>,
): Promise<T> {
  for (;;) {
    const wanted = dir ?? holder?.previous ?? process.cwd();
    if (holder === undefined) {
      const previous = process.cwd();
      if (wanted !== previous) process.chdir(wanted);
      holder = { dir: wanted, users: 0, previous };
    }
    if (holder.dir === wanted && waiting.length === 0) break;
    await new Promise<void>((resolve) => waiting.push(resolve));
  }
  const held = holder;
  held.users++;
  try {
    return await body();
  } finally {
    if (--held.users === 0) {
      holder = undefined;
      try {
        process.chdir(held.previous);
      } catch {
        // The directory the process came from is gone: stay where it is.
      }
      for (const wake of waiting.splice(0)) wake();
    }
  }
}
