// One build of an image at a time on this machine: processes that would build the same content
// (two agents, two test files) take turns, so the second finds the first's image instead of
// building it again. The lock is a file created exclusively in the temporary directory, holding
// the owner's pid; a lock whose owner is gone, or older than `staleMs`, is taken over.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** Runs `fn` holding the machine-wide lock named `name`. */
export async function withBuildLock<T>(
  name: string,
  fn: () => Promise<T>,
  { staleMs = 15 * 60_000, pollMs = 150 }: { staleMs?: number; pollMs?: number } = {},
): Promise<T> {
  const dir = join(tmpdir(), "weftflow-build-locks");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${createHash("sha256").update(name).digest("hex").slice(0, 32)}.lock`);
  for (;;) {
    try {
      writeFileSync(path, String(process.pid), { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (abandoned(path, staleMs)) {
        try {
          unlinkSync(path);
        } catch {
          // another waiter took it over first
        }
        continue;
      }
      await sleep(pollMs);
    }
  }
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(path);
    } catch {
      // taken over as stale meanwhile
    }
  }
}

function abandoned(path: string, staleMs: number): boolean {
  try {
    if (Date.now() - statSync(path).mtimeMs > staleMs) return true;
    const pid = Number(readFileSync(path, "utf8"));
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return false;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ESRCH: the owner is gone; ENOENT: released while we looked (try again at once).
    return code === "ESRCH" || code === "ENOENT";
  }
}
