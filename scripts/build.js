#!/usr/bin/env node
// Builds dist/ from src/: the JavaScript with esbuild (a few ES modules, code
// split, npm packages left as imports but zod), the declarations with tsc (dist/types).
//
//   node scripts/build.js              all three (npm run build; prepare)
//   node scripts/build.js --js         the JavaScript only
//   node scripts/build.js --ui         the web UI only (ui/ → dist/ui, with Vite)
//   node scripts/build.js --if-stale   each half only when a file of src/ is newer than it
//                                      (`npm test` runs this first: child processes run dist/)
//
// Why esbuild for the JavaScript: 0.3 s against tsc's 15 s, and a dozen modules
// instead of ~125 files, which Node loads measurably faster (bench/startup).
// tsc still writes the declarations, which esbuild cannot.
import { spawnSync } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  statSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const dist = join(root, "dist");

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

/**
 * Dependencies bundled into dist/ rather than imported from node_modules: zod, whose
 * ES build is ~95 files; loading them is ~100 ms of every process that validates
 * anything (every weft command that runs a flow), and bundled 60–90 ms less
 * (bench/startup/variants.mjs). zod stays a dependency: the declarations name its types.
 */
export const BUNDLED = ["zod"];

/**
 * esbuild's options for dist/'s JavaScript, into `outdir` (absolute, or relative
 * to the repository); bench/startup/variants.mjs builds variants of them.
 */
export function javascriptOptions({ outdir = "dist", bundled = BUNDLED } = {}) {
  return {
    absWorkingDir: root,
    entryPoints,
    outdir,
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    // The other dependencies stay imports of the installed packages (one copy each, updated by npm).
    external: Object.keys(manifest.dependencies).filter((name) => !bundled.includes(name)),
    sourcemap: "linked",
    logLevel: "warning",
  };
}

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

async function buildJs() {
  rmSync(join(dist, "chunks"), { recursive: true, force: true });
  for (const name of readdirSync(dist, { withFileTypes: true }).filter((e) => e.isFile())) {
    rmSync(join(dist, name.name));
  }
  const { build } = await import("esbuild");
  await build(javascriptOptions());
  // The CommonJS door: loads the ES module where Node can, and says how otherwise.
  copyFileSync(join(root, "src", "require.cjs"), join(dist, "require.cjs"));
}

/**
 * The web UI (ui/) into dist/ui with Vite, a devDependency: an install without it (a
 * production install from git) builds the rest and says the UI was left out.
 */
async function buildUi() {
  let vite;
  try {
    vite = await import("vite");
  } catch {
    console.error("build: vite is not installed, so dist/ui (the web UI) was not built");
    return false;
  }
  await vite.build({ configFile: join(root, "ui", "vite.config.ts") });
  return true;
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

async function main() {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => !["--js", "--ui", "--if-stale"].includes(a));
  if (unknown.length > 0) {
    console.error(`build: unknown option ${unknown[0]} (expected --js, --ui or --if-stale)`);
    process.exit(2);
  }
  const ifStale = args.includes("--if-stale");
  // --js and --ui each choose a part (both may be given); neither means all three.
  const chosen = args.filter((a) => a === "--js" || a === "--ui");
  const withJs = chosen.length === 0 || chosen.includes("--js");
  const withTypes = chosen.length === 0;
  const withUi = chosen.length === 0 || chosen.includes("--ui");
  const sources = Math.max(
    newestIn(join(root, "src")),
    mtime(join(root, "package.json")),
    mtime(join(root, "scripts", "build.js")),
  );
  const fresh = (stamp) => ifStale && mtime(stamp) > sources;

  const done = [];
  const started = performance.now();
  if (withJs && !fresh(join(dist, "cli.js"))) {
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
  const uiSources = Math.max(newestIn(join(root, "ui")), sources);
  if (withUi && !(ifStale && mtime(join(dist, "ui", "index.html")) > uiSources)) {
    const t = performance.now();
    if (await buildUi()) done.push(`web UI ${Math.round(performance.now() - t)} ms`);
  }
  if (done.length > 0) {
    console.error(
      `build: dist/ in ${Math.round(performance.now() - started)} ms (${done.join(", ")})`,
    );
  }
}

// Run as a script (npm run build); imported (variants.mjs), it only lends its options.
if (
  process.argv[1] !== undefined &&
  fileURLToPath(import.meta.url) === realpathSync(process.argv[1])
)
  await main();
