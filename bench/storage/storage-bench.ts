// The storage benchmark (see README.md next to this file): how long bundling
// and building each example takes, and how long loading a built flow takes,
// cold and warm, in a fresh process as `weft execute` does it, and again in
// the same process.
//
//   node --import tsx bench/storage/storage-bench.ts [--runs N] [--process-runs N]
//        [--storage KIND] [--example NAME]
//
// TSV on stdout (header first), progress on stderr. Every load is checked (the
// loaded flow must be the one built); a failed check prints the reason and exits 1.
// Flows are loaded, not run: the figures are the storage's, not the flow's.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { type Flow, isFlow } from "../../src/core/flow.ts";
import { bundleFlowModule } from "../../src/storage/bundle/flow-bundler.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import { storageFromJSON } from "../../src/storage/registry.ts";
import type { Storage } from "../../src/storage/storage.ts";

const SELF = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(SELF), "..", "..");
const EXAMPLES_DIR = join(REPO_ROOT, "examples");

/**
 * The storage kinds measured. To add one, add an entry: `make` returns a fresh
 * storage whose data lives under `tmp` (or in a service it reaches), and
 * `unavailable` says why it cannot run here (a missing service), or undefined.
 * The fresh-process loads only use the storage's JSON, so they work for any kind.
 */
const STORAGES: Record<string, { make(tmp: string): Storage; unavailable?(): string | undefined }> =
  {
    local: {
      make: (tmp) =>
        createLocalStorage({ directory: join(tmp, "flows"), cacheDir: join(tmp, "cache") }),
    },
  };

const HEADER = [
  "metric",
  "storage",
  "example",
  "runs",
  "p50_ms",
  "min_ms",
  "max_ms",
  "bundle_bytes",
];

const USAGE = `usage: node --import tsx bench/storage/storage-bench.ts [--runs N] [--process-runs N] [--storage KIND] [--example NAME]
  --runs N          in-process samples per row (default 7)
  --process-runs N  fresh processes per cold/warm row (default 5)
  --storage KIND    only this kind (${Object.keys(STORAGES).join(", ")})
  --example NAME    only this example of examples/ (e.g. etl)`;

// ------------------------------------------------------------ child process

/** One fresh-process load: WEFT_STORAGE and WEFT_FLOW_LOCATION in, timings out (JSON on stdout). */
async function child(): Promise<void> {
  // Bundles import "weftflow": load it first, as `weft execute` has, so that load_ms is the storage's.
  await import("../../src/index.ts");
  // performance.now() counts from the start of this process: node, tsx and weft are loaded now.
  const startup = performance.now();
  const storage = storageFromJSON(JSON.parse(process.env.WEFT_STORAGE ?? "null"));
  const location = process.env.WEFT_FLOW_LOCATION ?? "";
  const t0 = performance.now();
  const runner = await storage.getRunner(location);
  const t1 = performance.now();
  const expected = location.slice(location.lastIndexOf("#") + 1);
  if (runner.flow.name !== expected) fail(`loaded ${runner.flow.name}, expected ${expected}`);
  process.stdout.write(`${JSON.stringify({ startup_ms: startup, load_ms: t1 - t0 })}\n`);
}

// ------------------------------------------------------------------ helpers

function fail(message: string): never {
  process.stderr.write(`storage-bench: ${message}\n`);
  process.exit(1);
}

function usageError(message: string): never {
  process.stderr.write(`storage-bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  if (at < 0) return undefined;
  const value = process.argv[at + 1];
  if (value === undefined || value.startsWith("--")) usageError(`${name} needs a value`);
  return value;
}

function count(name: string, fallback: number): number {
  const text = option(name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) usageError(`${name} must be a positive integer`);
  return n;
}

function stats(samples: readonly number[]): { p50: number; min: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const p50 = s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { p50, min: s[0]!, max: s[s.length - 1]! };
}

function row(
  metric: string,
  storage: string,
  example: string,
  samples: readonly number[],
  bytes: number | undefined,
): void {
  const { p50, min, max } = stats(samples);
  const cells = [metric, storage, example, String(samples.length)];
  cells.push(
    p50.toFixed(1),
    min.toFixed(1),
    max.toFixed(1),
    bytes === undefined ? "-" : String(bytes),
  );
  process.stdout.write(`${cells.join("\t")}\n`);
}

/** Times `fn` (ms) `runs` times. */
async function time(runs: number, fn: (i: number) => unknown): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

interface ChildSample {
  readonly startup_ms: number;
  readonly load_ms: number;
  readonly wall_ms: number;
}

/** Starts this file as a child that loads `location` from `storage`, with WEFT_HOME = home. */
function loadInChild(storage: Storage, location: string, home: string): Promise<ChildSample> {
  const started = performance.now();
  const proc = spawn(process.execPath, ["--import", "tsx", SELF, "--child"], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      WEFT_HOME: home,
      WEFT_STORAGE: JSON.stringify(storage.toJSON()),
      WEFT_FLOW_LOCATION: location,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  proc.stdout.setEncoding("utf8").on("data", (s: string) => {
    out += s;
  });
  return new Promise((resolvePromise, reject) => {
    proc.on("error", reject);
    proc.on("close", (code) => {
      if (code !== 0) reject(new Error(`the loading process exited with ${code}`));
      else resolvePromise({ ...JSON.parse(out), wall_ms: performance.now() - started });
    });
  });
}

async function flowsOf(file: string): Promise<Flow<unknown>[]> {
  const namespace = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  return Object.values(namespace).filter(isFlow);
}

// --------------------------------------------------------------------- main

async function main(): Promise<void> {
  const runs = count("--runs", 7);
  const processRuns = count("--process-runs", 5);
  const onlyStorage = option("--storage");
  const onlyExample = option("--example");
  if (onlyStorage !== undefined && !(onlyStorage in STORAGES))
    usageError(`unknown storage ${onlyStorage}`);
  const examples = readdirSync(EXAMPLES_DIR)
    .filter((f) => f.endsWith(".ts"))
    .sort()
    .filter((f) => onlyExample === undefined || basename(f, ".ts") === onlyExample);
  if (examples.length === 0) usageError(`no example named ${onlyExample}`);

  const root = mkdtempSync(join(tmpdir(), "weft-bench-storage-"));
  let dirs = 0;
  const fresh = () => join(root, `d${dirs++}`);
  process.stdout.write(`${HEADER.join("\t")}\n`);
  try {
    for (const file of examples) {
      const name = basename(file, ".ts");
      const path = join(EXAMPLES_DIR, file);
      const flows = await flowsOf(path);
      if (flows.length === 0) fail(`${file} exports no flow`);
      const url = pathToFileURL(path).href;
      process.stderr.write(`${name}: bundling\n`);
      bundleFlowModule(url); // esbuild's first call starts its service: not part of the figure
      let bytes = 0;
      const bundled = await time(runs, () => {
        bytes = Buffer.byteLength(bundleFlowModule(url).code);
      });
      row("bundle", "-", name, bundled, bytes);

      for (const [kind, spec] of Object.entries(STORAGES)) {
        if (onlyStorage !== undefined && kind !== onlyStorage) continue;
        const why = spec.unavailable?.();
        if (why !== undefined) {
          process.stderr.write(`${kind}: skipped (${why})\n`);
          continue;
        }
        process.stderr.write(`${name}: ${kind} build\n`);
        let storage: Storage | undefined;
        let location = "";
        const builds = await time(runs, async () => {
          storage = spec.make(fresh());
          for (const f of flows) storage.addFlow(f);
          await storage.build();
          location = storage.flows[flows[0]!.name]!;
        });
        row("build", kind, name, builds, bytes);
        const built = storage!;

        process.stderr.write(`${name}: ${kind} loads in fresh processes\n`);
        const cold: ChildSample[] = [];
        const warm: ChildSample[] = [];
        for (let i = 0; i < processRuns; i++) {
          const home = fresh();
          cold.push(await loadInChild(built, location, home)); // empty cache
          warm.push(await loadInChild(built, location, home)); // the bundle is cached now
        }
        row(
          "load-cold",
          kind,
          name,
          cold.map((s) => s.load_ms),
          bytes,
        );
        row(
          "load-warm",
          kind,
          name,
          warm.map((s) => s.load_ms),
          bytes,
        );
        row(
          "process-cold",
          kind,
          name,
          cold.map((s) => s.wall_ms),
          bytes,
        );
        row(
          "process-warm",
          kind,
          name,
          warm.map((s) => s.wall_ms),
          bytes,
        );
        row(
          "process-startup",
          kind,
          name,
          [...cold, ...warm].map((s) => s.startup_ms),
          undefined,
        );

        // In this process: storages rebuilt from JSON, each with an empty cache of its own
        // (a new cache path is a new module URL: a real import), then repeated loads.
        const previousHome = process.env.WEFT_HOME;
        try {
          let reader: Storage | undefined;
          const firsts = await time(runs, async () => {
            process.env.WEFT_HOME = fresh();
            reader = storageFromJSON(built.toJSON());
            await reader.getRunner(location);
          });
          row("load-inproc-first", kind, name, firsts, bytes);
          const again = await time(runs, async () => {
            const runner = await reader!.getRunner(location);
            if (runner.flow.name !== flows[0]!.name) fail(`loaded ${runner.flow.name}`);
          });
          row("load-inproc-repeat", kind, name, again, bytes);
        } finally {
          if (previousHome === undefined) delete process.env.WEFT_HOME;
          else process.env.WEFT_HOME = previousHome;
        }
      }
    }
    process.stdout.write(
      `# ${runs} in-process samples, ${processRuns} fresh processes per cold/warm row; node ${process.version}\n`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv.includes("--child")) await child();
else await main();
