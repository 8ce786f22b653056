// The shape of src/ that a newcomer relies on (CONTRIBUTING.md, issue 14): no source file
// over ~600 lines without the reason at its top, and the modules a reader opens first
// start with a header comment that says what they are for and what they keep true;
// no two modules export the same name.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { exportedNames } from "./support/exports.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const MAX_LINES = 600;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

/** The comment lines a file opens with, before its first line of code. */
function header(text: string): string[] {
  const lines: string[] = [];
  for (const line of text.split("\n")) {
    const trimmed = line.trim();
    if (trimmed === "" || trimmed.startsWith("#!")) continue;
    if (!/^(\/\/|\/\*|\*)/.test(trimmed)) break;
    lines.push(trimmed);
  }
  return lines;
}

test(`a source file over ${MAX_LINES} lines says why at its top`, () => {
  const unexplained = sourceFiles(join(root, "src"))
    .map((path) => ({ path, text: readFileSync(path, "utf8") }))
    .filter(({ text }) => text.split("\n").length > MAX_LINES)
    .filter(({ text }) => !header(text).some((line) => /\b\d{3,} lines\b/.test(line)))
    .map(({ path }) => relative(root, path));
  assert.deepEqual(
    unexplained,
    [],
    "split these files along a seam, or give the reason at the top",
  );
});

test("the modules a newcomer reads first open with a header comment", () => {
  for (const path of [
    "src/server/api/routes.ts",
    "src/server/api/app.ts",
    "src/agent/agent.ts",
    "src/client/api-reporter.ts",
    "src/client/api-client.ts",
  ]) {
    const lines = header(readFileSync(join(root, path), "utf8"));
    assert.ok(lines.length >= 8, `${path} opens with ${lines.length} comment lines`);
  }
});

test("no two modules of src/ declare the same exported name", () => {
  // The composition root's Flow extends core's and imports it as FlowModel.
  const allowed = new Set(["Flow", "isFlow"]);
  const owners = new Map<string, string[]>();
  for (const path of sourceFiles(join(root, "src"))) {
    const file = relative(root, path);
    for (const name of exportedNames(file, { declaredOnly: true })) {
      owners.set(name, [...(owners.get(name) ?? []), file]);
    }
  }
  const clashes = [...owners]
    .filter(([name, files]) => files.length > 1 && !allowed.has(name))
    .map(([name, files]) => `${name}: ${files.join(", ")}`);
  assert.deepEqual(clashes, [], "give one of each pair a name a reader cannot confuse");
});
