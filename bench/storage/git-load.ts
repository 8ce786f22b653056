// How long loading a flow from git storage takes in a fresh process, as an
// agent's `weft execute` does it: cold (empty cache: fetch the recorded commit,
// check it out, import the file) and warm (the commit is cached: import only).
//
//   node --import tsx bench/storage/git-load.ts [--runs N]
//
// Each run is a child process that rebuilds the storage from its JSON
// (WEFT_STORAGE), with WEFT_HOME pointing at the cache under test, and reports
// `startup_ms` (node + tsx + weft imported), `load_ms` (storage.getRunner) and
// `run_ms` (one run of the loaded flow, checked to succeed). The parent adds the
// child's wall time (spawn to exit). The repository is a local one made here
// with `git init`, so the figures are git's and weft's, not a network's.
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const SELF = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(SELF), "..", "..");
const FIXTURE = join(REPO_ROOT, "test/fixtures/storage/git-flow.ts");
const FLOW_PATH = "flows/etl.ts";

interface Sample {
  startup_ms: number;
  load_ms: number;
  run_ms: number;
  wall_ms: number;
}

async function child(): Promise<void> {
  const { storageFromJSON } = await import("weftflow");
  // performance.now() counts from the process's start: node, tsx and weft are loaded by now.
  const imported = performance.now();
  const storage = storageFromJSON(JSON.parse(process.env.WEFT_STORAGE ?? "null"));
  const t0 = performance.now();
  const runner = await storage.getRunner(process.env.WEFT_FLOW_LOCATION ?? "");
  const t1 = performance.now();
  const run = await runner.run({ parameters: { who: "bench" } });
  const t2 = performance.now();
  if (run.state.type !== "Success") {
    process.stderr.write(`git-load: the loaded flow ended ${run.state.type}\n`);
    process.exit(1);
  }
  process.stdout.write(
    `${JSON.stringify({ startup_ms: imported, load_ms: t1 - t0, run_ms: t2 - t1 })}\n`,
  );
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, {
    cwd,
    encoding: "utf8",
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "bench",
      GIT_AUTHOR_EMAIL: "bench@weft.invalid",
      GIT_COMMITTER_NAME: "bench",
      GIT_COMMITTER_EMAIL: "bench@weft.invalid",
    },
  }).trim();
}

function sample(env: Record<string, string>): Promise<Sample> {
  const started = performance.now();
  const proc = spawn(process.execPath, ["--import", "tsx", SELF, "--child"], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d));
  return new Promise((resolvePromise, reject) => {
    proc.on("close", (code) => {
      if (code !== 0) return reject(new Error(`child exited with ${code}`));
      resolvePromise({ ...JSON.parse(out), wall_ms: performance.now() - started });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const runsArg = process.argv.indexOf("--runs");
  const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
  if (!Number.isInteger(runs) || runs < 1) {
    process.stderr.write("usage: node --import tsx bench/storage/git-load.ts [--runs N]\n");
    process.exit(2);
  }
  const root = mkdtempSync(join(tmpdir(), "weft-bench-git-"));
  try {
    const repo = join(root, "repo");
    mkdirSync(join(repo, "flows"), { recursive: true });
    git(repo, "init", "-q", "-b", "main");
    writeFileSync(join(repo, FLOW_PATH), readFileSync(FIXTURE, "utf8"));
    // Some weight beside the flow file, as a real repository has.
    for (let i = 0; i < 200; i++) {
      writeFileSync(
        join(repo, "flows", `module-${i}.ts`),
        `export const n${i} = ${i};\n`.repeat(50),
      );
    }
    git(repo, "add", "-A");
    git(repo, "commit", "-q", "-m", "flows");
    const commit = git(repo, "rev-parse", "HEAD");
    const location = `${FLOW_PATH}#git-etl`;
    const storageJson = JSON.stringify({
      type: "git",
      schemaVersion: 1,
      repo,
      ref: "main",
      path: FLOW_PATH,
      commit,
      flows: { "git-etl": location },
    });
    const env = (home: string) => ({
      WEFT_HOME: home,
      WEFT_STORAGE: storageJson,
      WEFT_FLOW_LOCATION: location,
    });

    const cold: Sample[] = [];
    const warm: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      const home = join(root, `home-${i}`);
      cold.push(await sample(env(home)));
      warm.push(await sample(env(home)));
    }
    const rows = [
      ["case", "runs", "load_ms", "startup_ms", "run_ms", "wall_ms", "load_ms_min", "load_ms_max"],
      ...(
        [
          ["cold", cold],
          ["warm", warm],
        ] as const
      ).map(([name, xs]) => [
        name,
        String(xs.length),
        median(xs.map((x) => x.load_ms)).toFixed(1),
        median(xs.map((x) => x.startup_ms)).toFixed(1),
        median(xs.map((x) => x.run_ms)).toFixed(1),
        median(xs.map((x) => x.wall_ms)).toFixed(1),
        Math.min(...xs.map((x) => x.load_ms)).toFixed(1),
        Math.max(...xs.map((x) => x.load_ms)).toFixed(1),
      ]),
    ];
    process.stdout.write(`${rows.map((r) => r.join("\t")).join("\n")}\n`);
    process.stdout.write(
      `# medians over ${runs} fresh processes each; git ${git(root, "--version").replace("git version ", "")}, node ${process.version}\n`,
    );
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv.includes("--child")) await child();
else await main();
