// The environment benchmark: start overhead, from `environment.execute()`
// called to the first task Running, for the subprocess environment (a fresh
// `weft execute` per run) and for the local environment (this process).
//
//   node --import tsx bench/environments/subprocess-bench.ts [--runs N] [--profile]
//
// Two measures per run, both against the moment `execute` was called:
//   first_task_ms  the first task's Running state timestamp (taken where the
//                  task runs: in the child for subprocess)
//   heard_ms       when the parent's reporter heard that event
// plus total_ms, the whole execute (to the final state and the child's exit).
// One warm-up run per environment is not counted (it fills the bundle cache).
//
// TSV on stdout (header first), progress on stderr. --profile then times the
// phases of a child's start (start-phases.mjs: node, tsx's loader, zod, weft's
// module graph, the CLI) over fresh processes, counts the modules it loads by
// group, and starts one `weft execute` with `node --cpu-prof`, printing where
// its main thread's CPU time goes by module group. (tsx's hooks run on their
// own thread, which the profile does not see: the phases show their cost.)
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { State } from "../../src/core/states.ts";
import type { Environment } from "../../src/environments/environment.ts";
import { createLocalEnvironment } from "../../src/environments/local-environment.ts";
import { createSubprocessEnvironment } from "../../src/environments/subprocess/subprocess-environment.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import { createMemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { startFlow } from "./bench-flow.ts";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const WEFT_BIN = join(REPO_ROOT, "bin", "weft.js");
const TARGET_P50_MS = 300;

interface Sample {
  readonly firstTaskMs: number;
  readonly heardMs: number;
  readonly totalMs: number;
}

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

/** One execute, timed. Fails loudly when the run does not succeed. */
async function once(environment: Environment, storage: Storage, location: string, home: string) {
  let firstTask: number | undefined;
  let heard: number | undefined;
  const called = Date.now();
  const { state } = await environment.execute(storage, location, {
    flowRunId: randomUUID(),
    env: { WEFT_HOME: home },
    reporter: {
      taskState(_run, _task, _index, s: State) {
        if (firstTask === undefined && s.type === "Running") {
          firstTask = s.timestamp;
          heard = Date.now();
        }
      },
    },
  });
  const done = Date.now();
  if (state.type !== "Success" || firstTask === undefined || heard === undefined) {
    throw new Error(`the benchmark flow did not succeed: ${state.type} ${state.message ?? ""}`);
  }
  return { firstTaskMs: firstTask - called, heardMs: heard - called, totalMs: done - called };
}

async function measure(
  label: string,
  environment: Environment,
  storage: Storage,
  home: string,
  runs: number,
): Promise<Sample[]> {
  const location = storage.addFlow(startFlow);
  await storage.build();
  await environment.setup(storage);
  await once(environment, storage, location, home); // warm-up: fills the child's bundle cache
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    samples.push(await once(environment, storage, location, home));
    process.stderr.write(`\r${label}: ${i + 1}/${runs}`);
  }
  process.stderr.write("\n");
  return samples;
}

function row(label: string, storage: string, samples: readonly Sample[]): string {
  const cells = (pick: (s: Sample) => number) => {
    const values = samples.map(pick);
    return [
      percentile(values, 50),
      percentile(values, 95),
      Math.min(...values),
      Math.max(...values),
    ];
  };
  return [
    label,
    storage,
    samples.length,
    ...cells((s) => s.firstTaskMs),
    ...cells((s) => s.heardMs),
    percentile(
      samples.map((s) => s.totalMs),
      50,
    ),
  ].join("\t");
}

// ------------------------------------------------------------------ profile

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly url: string; readonly functionName: string };
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** Which part of the child a script URL belongs to. */
function groupOf(url: string, functionName: string): string {
  if (url === "") {
    if (functionName === "(garbage collector)") return "gc";
    if (functionName === "(idle)" || functionName === "(program)") return `v8 ${functionName}`;
    return "v8/native";
  }
  if (url.startsWith("node:")) return "node internals";
  if (url.includes("/node_modules/tsx/") || url.includes("/node_modules/get-tsconfig/"))
    return "tsx loader";
  if (url.includes("/node_modules/esbuild/")) return "esbuild";
  if (url.includes("/node_modules/zod/")) return "zod";
  if (url.includes("/node_modules/@aws-sdk/") || url.includes("/node_modules/@smithy/"))
    return "aws-sdk";
  if (url.includes("/node_modules/commander/")) return "commander";
  if (url.includes("/node_modules/simple-git/")) return "simple-git";
  if (url.includes("/node_modules/croner/")) return "croner";
  if (url.includes("/node_modules/")) return "other node_modules";
  const src = url.indexOf("/src/");
  if (src !== -1) return `weft src/${url.slice(src + 5).split("/")[0]}`;
  if (url.includes("/bundles/")) return "the flow bundle";
  return url;
}

/** Starts one `weft execute` child with --cpu-prof and prints where its time went. */
function profileChild(storage: Storage, location: string, home: string, dir: string): void {
  const profDir = join(dir, "prof");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...storage.getEnvRunner(location).env,
    WEFT_FLOW_RUN_ID: "profile",
    WEFT_PARAMETERS: "{}",
    WEFT_HOME: home,
  };
  delete env.NODE_OPTIONS;
  const started = Date.now();
  const result = spawnSync(
    process.execPath,
    ["--cpu-prof", "--cpu-prof-dir", profDir, "--cpu-prof-interval", "100", WEFT_BIN, "execute"],
    { env, encoding: "utf8" },
  );
  const wall = Date.now() - started;
  if (result.status !== 0) throw new Error(`profiled child failed: ${result.stderr}`);
  const file = readdirSync(profDir).find((f) => f.endsWith(".cpuprofile"));
  if (file === undefined) throw new Error("no .cpuprofile written");
  const profile = JSON.parse(readFileSync(join(profDir, file), "utf8")) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)!;
    const group = groupOf(node.callFrame.url, node.callFrame.functionName);
    self.set(group, (self.get(group) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  // Module loading: time under tsx's loader hooks and under weft's own module graph, inclusive.
  const parents = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parents.set(c, n.id);
  const inclusive = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const g = groupOf(byId.get(at)!.callFrame.url, byId.get(at)!.callFrame.functionName);
      if (!seen.has(g)) {
        seen.add(g);
        inclusive.set(g, (inclusive.get(g) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
      }
    }
  });
  const profiled = (profile.endTime - profile.startTime) / 1000;
  console.log("");
  console.log(`profile\tchild wall ${wall} ms\tprofiled ${profiled.toFixed(0)} ms\t(${file})`);
  console.log("group\tself_ms\tself_pct\tinclusive_ms");
  for (const [group, ms] of [...self].sort((a, b) => b[1] - a[1])) {
    console.log(
      `${group}\t${ms.toFixed(0)}\t${((100 * ms) / profiled).toFixed(1)}%\t${(inclusive.get(group) ?? 0).toFixed(0)}`,
    );
  }
}

/** Runs start-phases.mjs `runs` times (p50 of each phase), then once more to count modules by group. */
function startPhases(runs: number, dir: string): void {
  const script = join(REPO_ROOT, "bench", "environments", "start-phases.mjs");
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const samples: Record<string, number>[] = [];
  for (let i = 0; i < runs; i++) {
    const result = spawnSync(process.execPath, [script], { cwd: REPO_ROOT, env, encoding: "utf8" });
    if (result.status !== 0) throw new Error(`start-phases failed: ${result.stderr}`);
    samples.push(JSON.parse(result.stdout) as Record<string, number>);
  }
  console.log("");
  console.log(`phase\tp50_ms\t(start of weft execute, ${runs} fresh processes)`);
  for (const phase of Object.keys(samples[0] ?? {})) {
    console.log(
      `${phase}\t${percentile(
        samples.map((s) => s[phase] ?? 0),
        50,
      )}`,
    );
  }
  const list = join(dir, "modules.txt");
  const counted = spawnSync(process.execPath, [script, "--modules", list], { cwd: REPO_ROOT, env });
  if (counted.status !== 0) throw new Error("start-phases --modules failed");
  const counts = new Map<string, number>();
  for (const url of readFileSync(list, "utf8").split("\n").filter(Boolean)) {
    const group = groupOf(url, "");
    counts.set(group, (counts.get(group) ?? 0) + 1);
  }
  console.log("");
  console.log("module group\tmodules loaded");
  for (const [group, n] of [...counts].sort((a, b) => b[1] - a[1])) console.log(`${group}\t${n}`);
}

// --------------------------------------------------------------------- main

async function main(): Promise<void> {
  const runs = Number(option("--runs") ?? 20);
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a positive integer");
  const tmp = mkdtempSync(join(tmpdir(), "weft-env-bench-"));
  const home = join(tmp, "home");
  try {
    const local = () =>
      createLocalStorage({
        directory: join(tmp, "flows"),
        cacheDir: join(tmp, "cache"),
        hostnameLabel: false,
      });
    process.stderr.write(
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}\n`,
    );
    const subprocess = await measure(
      "subprocess",
      createSubprocessEnvironment(),
      local(),
      home,
      runs,
    );
    const inProcessMemory = await measure(
      "local",
      createLocalEnvironment(),
      createMemoryStorage(),
      home,
      runs,
    );
    const inProcessLocal = await measure("local", createLocalEnvironment(), local(), home, runs);
    console.log(
      [
        "environment",
        "storage",
        "runs",
        "first_task_p50_ms",
        "first_task_p95_ms",
        "first_task_min_ms",
        "first_task_max_ms",
        "heard_p50_ms",
        "heard_p95_ms",
        "heard_min_ms",
        "heard_max_ms",
        "total_p50_ms",
      ].join("\t"),
    );
    console.log(row("subprocess", "local", subprocess));
    console.log(row("local", "memory", inProcessMemory));
    console.log(row("local", "local", inProcessLocal));
    const p50 = percentile(
      subprocess.map((s) => s.firstTaskMs),
      50,
    );
    process.stderr.write(
      `subprocess first-task p50 ${p50} ms: ${p50 <= TARGET_P50_MS ? "within" : "above"} the ${TARGET_P50_MS} ms target\n`,
    );
    process.stderr.write(
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}\n`,
    );
    if (process.argv.includes("--profile")) {
      const storage = local();
      const location = storage.addFlow(startFlow);
      await storage.build();
      startPhases(Math.min(runs, 10), tmp);
      profileChild(storage, location, home, tmp);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
