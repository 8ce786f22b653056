#!/usr/bin/env node
// Builds dist/ from src/: the JavaScript with esbuild (a few ES modules, code
// split, npm packages left as imports), the declarations with tsc (dist/types).
//
//   node scripts/build.js              both (npm run build; prepare)
//   node scripts/build.js --js         the JavaScript only
//   node scripts/build.js --if-stale   each half only when a file of src/ is newer than it
//                                      (`npm test` runs this first: child processes run dist/)
//
// Why esbuild for the JavaScript: 0.3 s against tsc's 15 s, and a dozen modules
// instead of ~125 files, which Node loads measurably faster (bench/startup).
// tsc still writes the declarations, which esbuild cannot.
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const dist = join(root, "dist");
const args = process.argv.slice(2);
const unknown = args.filter((a) => !["--js", "--if-stale"].includes(a));
if (unknown.length > 0) {
  console.error(`build: unknown option ${unknown[0]} (expected --js or --if-stale)`);
  process.exit(2);
}
const ifStale = args.includes("--if-stale");
const withTypes = !args.includes("--js");

/**
 * The entry points, by the name of their file in dist/. Code that starts a
 * module by URL (a worker thread's body, the runtime a flow imports) finds it
 * by its source file's name: see moduleUrl() in src/core/package.ts.
 */
const entryPoints = {
  index: "src/index.ts",
  cli: "src/cli/main.ts",
  "worker-threads-worker": "src/engine/executors/worker-threads-worker.ts",
};

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

function newestIn(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestIn(path) : mtime(path));
  }
  return newest;
}

const sources = Math.max(
  newestIn(join(root, "src")),
  mtime(join(root, "package.json")),
  mtime(join(root, "scripts", "build.js")),
);
const fresh = (stamp) => ifStale && mtime(stamp) > sources;

async function buildJs() {
  rmSync(join(dist, "chunks"), { recursive: true, force: true });
  for (const name of readdirSync(dist, { withFileTypes: true }).filter((e) => e.isFile())) {
    rmSync(join(dist, name.name));
  }
  const { build } = await import("esbuild");
  await build({
    absWorkingDir: root,
    entryPoints,
    outdir: "dist",
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    // Dependencies stay imports of the installed packages, but for zod: its ES build is ~95
    // files, and loading them is ~100 ms of every process that validates anything (every weft
    // command that runs a flow); bundled, ~60–90 ms less (bench/startup: variants.mjs). zod
    // stays a dependency: the declarations name its types.
    external: Object.keys(manifest.dependencies).filter((name) => name !== "zod"),
    sourcemap: "linked",
    logLevel: "warning",
  });
  // The CommonJS door: loads the ES module where Node can, and says how otherwise.
  copyFileSync(join(root, "src", "require.cjs"), join(dist, "require.cjs"));
}

function buildTypes() {
  rmSync(join(dist, "types"), { recursive: true, force: true });
  const tsc = spawnSync(
    process.execPath,
    [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"],
    { cwd: root, stdio: "inherit" },
  );
  if (tsc.status !== 0) {
    console.error("build: tsc could not write the declarations");
    process.exit(tsc.status ?? 1);
  }
}

const done = [];
const started = performance.now();
if (!fresh(join(dist, "cli.js"))) {
  const t = performance.now();
  mkdirSync(dist, { recursive: true });
  await buildJs();
  done.push(`JavaScript ${Math.round(performance.now() - t)} ms`);
}
if (withTypes && !fresh(join(dist, "types", "index.d.ts"))) {
  const t = performance.now();
  buildTypes();
  done.push(`declarations ${Math.round(performance.now() - t)} ms`);
}
if (done.length > 0) {
  console.error(
    `build: dist/ in ${Math.round(performance.now() - started)} ms (${done.join(", ")})`,
  );
}
