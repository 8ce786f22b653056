// The engine benchmark harness (see README.md next to this file).
//
//   npm run -s bench -- <workload> <executor> <n>   one row, in this process
//   npm run -s bench [-- <workload> [<executor>]] [--quick] [--timeout S]
//                                                   a table: one child process per row
//   --dist: weft runs from its build (dist/), as installed; else from src/ (the npm script's
//           --conditions=weftflow-source). Rows in child processes get the same choice.
//   --unbuilt: flow.run() builds the graph (as a flow's first run does), inside wall_s.
import { spawn, spawnSync } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  FLOWS,
  reference,
  runPlain,
  taskCount,
  WORKLOADS as WORKLOAD_NAMES,
  type Workload as WorkloadName,
} from "./workloads.ts";

const EXECUTORS = ["plain", "serial", "concurrent", "worker-threads"] as const;
type ExecutorName = (typeof EXECUTORS)[number];
const SIZES = [100, 1_000, 10_000, 100_000, 1_000_000] as const;
const QUICK_MAX_N = 10_000;
/** A row slower than this skips the larger N of its workload and executor. */
const SKIP_AFTER_S = 60;
const DEFAULT_TIMEOUT_S = 120;
/** Heap limit of every row's process, so that the 1M rows are bounded by the engine. */
const NODE_FLAGS = ["--max-old-space-size=4096"];
/** How a row's process finds weft's source (without it, `weftflow` resolves to dist/). */
const SOURCE_FLAGS = ["--conditions=weftflow-source"];

const HEADER = ["workload", "executor", "n", "wall_s", "peak_rss_mb", "tasks_per_s", "build_s"];
const SELF = fileURLToPath(import.meta.url);
const REPO = resolve(dirname(SELF), "..", "..");

const USAGE = `usage:
  npm run -s bench -- <workload> <executor> <n>     one row (TSV, no header)
  npm run -s bench [-- [<workload> [<executor>]] [--quick] [--timeout SECONDS]]
                                                   header + table, one child process per row
  --dist: run weft's build (dist/, built first when older than src/), as an installation does;
          without it weft runs from src/ through tsx
  --unbuilt: the run builds the graph (as a flow's first run does): wall_s includes it, build_s is -
workloads: ${WORKLOAD_NAMES.join(", ")}
executors: ${EXECUTORS.join(", ")}
n: a positive integer (1k, 10k, 1M are accepted too); the table uses ${SIZES.join(", ")}
--quick: only n <= ${QUICK_MAX_N}; --timeout: seconds per row (default ${DEFAULT_TIMEOUT_S})`;

function usageError(message: string): never {
  process.stderr.write(`engine-bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function isWorkload(s: string): s is WorkloadName {
  return (WORKLOAD_NAMES as readonly string[]).includes(s);
}
function isExecutor(s: string): s is ExecutorName {
  return (EXECUTORS as readonly string[]).includes(s);
}

function parseN(s: string): number {
  const m = /^(\d+)([kKmM]?)$/.exec(s);
  const n =
    m === null ? Number.NaN : Number(m[1]) * { "": 1, k: 1e3, m: 1e6 }[m[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(n) || n < 1) usageError(`n must be a positive integer, got "${s}"`);
  return n;
}

// ------------------------------------------------------------------- one row

/** How rows run: weft from dist/ or from src/; the graph built before the run or by it. */
interface Mode {
  readonly dist: boolean;
  readonly unbuilt: boolean;
}

async function runRow(
  workload: WorkloadName,
  executor: ExecutorName,
  n: number,
  mode: Mode,
): Promise<void> {
  // The flows read N from the environment when they are built, here and in
  // worker threads (which copy this environment when they are spawned).
  process.env.WEFT_BENCH_N = String(n);
  const tasks = taskCount(workload, n);
  let wall: number;
  let build: number | undefined;
  let result: number;
  let expected: number;
  if (executor === "plain") {
    const t0 = performance.now();
    result = runPlain(workload, n);
    wall = (performance.now() - t0) / 1000;
    expected = reference(workload, n);
  } else {
    const f = FLOWS[workload];
    if (!mode.unbuilt) {
      const b0 = performance.now();
      f.build();
      build = (performance.now() - b0) / 1000;
    }
    const t0 = performance.now();
    const run = await f.run({ executor });
    wall = (performance.now() - t0) / 1000;
    if (run.state.type !== "Success") {
      fail(
        `${workload} ${executor} ${n}: the flow run ended ${run.state.type}` +
          (run.state.message ? `: ${run.state.message}` : ""),
      );
    }
    result = run.result(f.outputs.result);
    expected = runPlain(workload, n);
  }
  if (result !== expected) {
    fail(`${workload} ${executor} ${n}: wrong result ${result}, expected ${expected}`);
  }
  const rssMb = process.resourceUsage().maxRSS / 1024; // maxRSS is in KiB
  const row = [
    workload,
    executor,
    String(n),
    wall.toFixed(4),
    rssMb.toFixed(1),
    wall > 0 ? String(Math.round(tasks / wall)) : "inf",
    build === undefined ? "-" : build.toFixed(4),
  ];
  // Exit explicitly: a handle left open by the engine must not turn a finished row into a timeout.
  process.stdout.write(`${row.join("\t")}\n`, () => process.exit(0));
}

function fail(message: string): never {
  process.stderr.write(`engine-bench: ${message}\n`);
  process.exit(1);
}

// --------------------------------------------------------------- the table

interface Outcome {
  /** The row's TSV line, or undefined when it did not finish. */
  line: string | undefined;
  wall: number;
  status: "ok" | "timeout" | "error";
}

function spawnRow(
  workload: WorkloadName,
  executor: ExecutorName,
  n: number,
  timeoutS: number,
  mode: Mode,
): Promise<Outcome> {
  return new Promise((done) => {
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [
        ...NODE_FLAGS,
        ...(mode.dist ? [] : SOURCE_FLAGS),
        "--import",
        "tsx",
        SELF,
        workload,
        executor,
        String(n),
        ...(mode.dist ? ["--dist"] : []),
        ...(mode.unbuilt ? ["--unbuilt"] : []),
      ],
      {
        cwd: REPO,
        env: { ...process.env, WEFT_BENCH_N: String(n) },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.setEncoding("utf8").on("data", (s: string) => {
      out += s;
    });
    child.stderr.setEncoding("utf8").on("data", (s: string) => {
      err += s;
      if (err.length > 64_000) err = err.slice(-32_000);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeoutS * 1000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const wall = (performance.now() - started) / 1000;
      const line = out.trim().split("\n").at(-1);
      if (!timedOut && code === 0 && line !== undefined && line.split("\t").length === 7) {
        done({ line, wall, status: "ok" });
        return;
      }
      const what = `${workload} ${executor} ${n}`;
      if (timedOut) {
        process.stderr.write(`engine-bench: ${what}: no result after ${timeoutS} s, killed\n`);
      } else {
        const oom = /heap out of memory|ERR_WORKER_OUT_OF_MEMORY|ENOMEM/.test(err)
          ? " (out of memory)"
          : "";
        const tail = err.trim().split("\n").slice(-6).join("\n  ");
        process.stderr.write(
          `engine-bench: ${what}: failed${oom} after ${wall.toFixed(1)} s, ` +
            `${signal !== null ? `signal ${signal}` : `exit code ${code}`}` +
            (tail ? `\n  ${tail}\n` : "\n"),
        );
      }
      done({ line: undefined, wall, status: timedOut ? "timeout" : "error" });
    });
  });
}

async function runTable(
  workloads: readonly WorkloadName[],
  executors: readonly ExecutorName[],
  maxN: number,
  timeoutS: number,
  mode: Mode,
): Promise<void> {
  process.stdout.write(`${HEADER.join("\t")}\n`);
  for (const workload of workloads) {
    for (const executor of executors) {
      let skipReason: string | undefined;
      for (const n of SIZES) {
        if (n > maxN) break;
        if (skipReason !== undefined) {
          process.stdout.write(`${[workload, executor, n, "skipped", "-", "-", "-"].join("\t")}\n`);
          process.stderr.write(
            `engine-bench: ${workload} ${executor} ${n}: skipped (${skipReason})\n`,
          );
          continue;
        }
        const outcome = await spawnRow(workload, executor, n, timeoutS, mode);
        if (outcome.line !== undefined) {
          process.stdout.write(`${outcome.line}\n`);
          const wallS = Number(outcome.line.split("\t")[3]);
          if (wallS > SKIP_AFTER_S) skipReason = `n=${n} took ${wallS.toFixed(1)} s`;
        } else {
          process.stdout.write(
            `${[workload, executor, n, outcome.status, "-", "-", "-"].join("\t")}\n`,
          );
          skipReason = `n=${n} ended in ${outcome.status}`;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------- main

async function main(argv: readonly string[]): Promise<void> {
  let quick = false;
  let dist = false;
  let unbuilt = false;
  let timeoutS = DEFAULT_TIMEOUT_S;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--quick") quick = true;
    else if (arg === "--dist") dist = true;
    else if (arg === "--unbuilt") unbuilt = true;
    else if (arg === "--timeout" || arg.startsWith("--timeout=")) {
      const value = arg === "--timeout" ? argv[++i] : arg.slice("--timeout=".length);
      timeoutS = Number(value);
      if (!(timeoutS > 0)) usageError(`--timeout needs a positive number of seconds`);
    } else if (arg === "-h" || arg === "--help") {
      process.stdout.write(`${USAGE}\n`);
      return;
    } else if (arg.startsWith("-")) usageError(`unknown option ${arg}`);
    else positional.push(arg);
  }
  if (positional.length > 3) usageError("too many arguments");
  const [workload, executor, n] = positional;
  if (workload !== undefined && !isWorkload(workload)) usageError(`unknown workload "${workload}"`);
  if (executor !== undefined && !isExecutor(executor)) usageError(`unknown executor "${executor}"`);
  const mode: Mode = { dist, unbuilt };
  if (dist) buildDist();
  if (n !== undefined) {
    if (dist === runsFromDist()) {
      await runRow(workload as WorkloadName, executor as ExecutorName, parseN(n), mode);
      return;
    }
    // This process loaded weft from src/: the row runs in a child that loads dist/.
    const outcome = await spawnRow(
      workload as WorkloadName,
      executor as ExecutorName,
      parseN(n),
      timeoutS,
      mode,
    );
    if (outcome.line === undefined) process.exit(1);
    process.stdout.write(`${outcome.line}\n`);
    return;
  }
  await runTable(
    workload === undefined ? WORKLOAD_NAMES : [workload as WorkloadName],
    executor === undefined ? EXECUTORS : [executor as ExecutorName],
    quick ? QUICK_MAX_N : Number.POSITIVE_INFINITY,
    timeoutS,
    mode,
  );
}

/** Whether this process's `weftflow` is the build (dist/) rather than the source. */
function runsFromDist(): boolean {
  return !import.meta.resolve("weftflow").endsWith(".ts");
}

/** Builds dist/ when a file of src/ is newer than it (scripts/build.js --if-stale). */
function buildDist(): void {
  const built = spawnSync(process.execPath, ["scripts/build.js", "--js", "--if-stale"], {
    cwd: REPO,
    stdio: ["ignore", "ignore", "inherit"],
  });
  if (built.status !== 0) fail("building dist/ failed (node scripts/build.js --js)");
}

await main(process.argv.slice(2));
