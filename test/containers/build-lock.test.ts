// The machine-wide build lock: callers of the same name take turns (the second starts after the
// first ended), and a lock left by a process that is gone is taken over.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { withBuildLock } from "../../src/containers/build-lock.ts";

describe("build lock", () => {
  it("lets one holder at a time run, in turn", async () => {
    const name = `test-turns-${process.pid}-${Date.now()}`;
    const events: string[] = [];
    let releaseFirst!: () => void;
    const firstHolds = new Promise<void>((resolve) => {
      releaseFirst = resolve;
    });
    let firstStarted!: () => void;
    const started = new Promise<void>((resolve) => {
      firstStarted = resolve;
    });
    const first = withBuildLock(name, async () => {
      events.push("first start");
      firstStarted();
      await firstHolds;
      events.push("first end");
    });
    await started;
    const second = withBuildLock(name, async () => {
      events.push("second start");
    });
    // Give the second waiter several polls while the first holds the lock.
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(events, ["first start"]);
    releaseFirst();
    await Promise.all([first, second]);
    assert.deepEqual(events, ["first start", "first end", "second start"]);
  });

  it("takes over a lock whose owner is gone", async () => {
    const name = `test-stale-${process.pid}-${Date.now()}`;
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
    const dir = join(tmpdir(), "weftflow-build-locks");
    mkdirSync(dir, { recursive: true });
    const path = join(dir, `${createHash("sha256").update(name).digest("hex").slice(0, 32)}.lock`);
    writeFileSync(path, String(gone.stdout));
    assert.equal(await withBuildLock(name, async () => "ran"), "ran");
  });
});
