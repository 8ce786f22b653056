// The process's working directory while local-environment runs hold it
// (src/environments/working-directory.ts): runs needing one directory share
// it, runs needing another wait their turn, and the directory comes back.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { inWorkingDirectory } from "../../src/environments/working-directory.ts";

const root = realpathSync(mkdtempSync(join(tmpdir(), "weft-cwd-")));
after(() => rmSync(root, { recursive: true, force: true }));

test("runs in one directory share it; a run in another waits; the process gets its own back", async () => {
  const a = join(root, "a");
  const b = join(root, "b");
  mkdirSync(a);
  mkdirSync(b);
  const home = process.cwd();
  const seen: string[] = [];
  let releaseFirst!: () => void;
  const firstHolds = new Promise<void>((resolve) => {
    releaseFirst = resolve;
  });
  const first = inWorkingDirectory(a, async () => {
    seen.push(`a1 in ${process.cwd()}`);
    await firstHolds;
    seen.push(`a1 ends in ${process.cwd()}`);
  });
  const second = inWorkingDirectory(a, async () => {
    seen.push(`a2 in ${process.cwd()}`);
  });
  const other = inWorkingDirectory(b, async () => {
    seen.push(`b in ${process.cwd()}`);
  });
  const unplaced = inWorkingDirectory(undefined, async () => {
    seen.push(`none in ${process.cwd()}`);
  });
  await second;
  assert.deepEqual(seen, [`a1 in ${a}`, `a2 in ${a}`], "b and the unplaced run wait for a");
  releaseFirst();
  await Promise.all([first, other, unplaced]);
  assert.deepEqual(seen.slice(2, 3), [`a1 ends in ${a}`]);
  assert.deepEqual(
    seen.slice(3).sort(),
    [`b in ${b}`, `none in ${home}`].sort(),
    "each later run in its own directory",
  );
  assert.equal(process.cwd(), home);
});

test("a run for the held directory that arrives after one waiting for another goes after it", async () => {
  const a = join(root, "fair-a");
  const b = join(root, "fair-b");
  mkdirSync(a);
  mkdirSync(b);
  const order: string[] = [];
  let release!: () => void;
  const holds = new Promise<void>((resolve) => {
    release = resolve;
  });
  const first = inWorkingDirectory(a, async () => {
    order.push("a1");
    await holds;
  });
  const other = inWorkingDirectory(b, async () => {
    order.push(`b in ${process.cwd()}`);
  });
  const late = inWorkingDirectory(a, async () => {
    order.push(`a2 in ${process.cwd()}`);
  });
  // Both later runs are queued, not started, while a1 holds a.
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, ["a1"]);
  release();
  await Promise.all([first, other, late]);
  assert.deepEqual(order, ["a1", `b in ${b}`, `a2 in ${a}`]);
});
