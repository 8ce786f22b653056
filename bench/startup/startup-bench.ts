// The start-up benchmark: how long real `node bin/weft.js …` processes take to
// start, each row beside `node -e 0` measured in the same loop (A B A B …), so
// that the difference is weft's own cost whatever else loads the machine.
//
//   npm run bench:startup                          # every row, 10 runs each
//   npm run bench:startup -- --runs 30 --json
//   npm run bench:startup -- --rows version,run-ts --profile
//
// Rows (see README.md for targets):
//   version  `weft --version`, spawn → exit
//   run-ts   `weft run startup-flow.ts` (three tasks, imports "weftflow"), spawn → exit
//   run-mjs  the same flow as startup-flow.mjs (no tsx), spawn → exit
//   execute  the subprocess environment's `weft execute` (local storage built
//            once): execute() called, just before the spawn → the first task's
//            Running timestamp as the engine in the child reports it
//   worker   `weft worker start`: spawn → its "serving <queues>" line on stderr;
//            needs Redis (--redis, WEFT_BENCH_REDIS_URL or WEFT_TEST_REDIS_URL)
// The agent's subprocess runs (create → first task) are bench/e2e's row.
//
// Each row runs once unmeasured first (warms the page cache and tsx's
// transform cache). dist/ is rebuilt first when src/ is newer. One table on
// stdout (or one JSON document with --json); progress on stderr.
//
// --profile then takes the start apart (start-phases.mjs in fresh processes,
// and `node --cpu-prof` of the real commands): see README.md.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createSubprocessEnvironment } from "../../src/environments/subprocess/subprocess-environment.ts";
import { parseEventLine } from "../../src/serialization/flow-run-protocol.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { timeExecute } from "../environments/execute-timing.ts";
import { averageProfiles, readThreadProfiles, type ThreadProfile } from "./cpu-profile.ts";
import { startupFlow } from "./startup-flow.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const WEFT = join(ROOT, "bin", "weft.js");
const PHASES = join(ROOT, "bench", "startup", "start-phases.mjs");
const FLOW_TS = "bench/startup/startup-flow.ts";
const FLOW_MJS = "bench/startup/startup-flow.mjs";
const ROW_IDS = ["version", "run-ts", "run-mjs", "execute", "worker"] as const;
type RowId = (typeof ROW_IDS)[number];

// ------------------------------------------------------------------ options

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

const runs = Number(option("--runs") ?? 10);
if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a positive integer");
const asJson = process.argv.includes("--json");
const profile = process.argv.includes("--profile");
const selected = (option("--rows")?.split(",") ?? [...ROW_IDS]) as RowId[];
for (const id of selected) {
  if (!ROW_IDS.includes(id))
    throw new Error(`--rows: unknown row ${id} (known: ${ROW_IDS.join(", ")})`);
}
const redisUrl =
  option("--redis") ?? process.env.WEFT_BENCH_REDIS_URL ?? process.env.WEFT_TEST_REDIS_URL;

// ------------------------------------------------------------------ helpers

const log = (line: string) => process.stderr.write(`${line}\n`);
const loadavg1 = () => Number(readFileSync("/proc/loadavg", "utf8").split(" ")[0]);
/** Epoch ms with sub-ms precision, on the clock start-phases.mjs marks with. */
const epoch = () => performance.timeOrigin + performance.now();

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile. */
function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

/** The environment of every child: no loader options from this process, a home of its own. */
function childEnv(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", WEFT_HOME: home, ...extra };
  delete env.NODE_OPTIONS;
  return env;
}

interface Finished {
  readonly ms: number;
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** performance.now() just before the spawn and at the exit event. */
  readonly spawnedAt: number;
  readonly exitedAt: number;
}

function collect(child: ChildProcess): { out: () => string; err: () => string } {
  let out = "";
  let err = "";
  child.stdout?.setEncoding("utf8").on("data", (c: string) => (out += c));
  child.stderr?.setEncoding("utf8").on("data", (c: string) => (err += c));
  return { out: () => out, err: () => err };
}

/** Starts `node ...args`, times spawn → exit (the exit event, not the pipes' close). */
function timeProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  options: { fd3?: boolean; onChild?: (child: ChildProcess) => void } = {},
): Promise<Finished> {
  return new Promise((resolvePromise, reject) => {
    const spawnedAt = performance.now();
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env,
      stdio: options.fd3 ? ["ignore", "pipe", "pipe", "pipe"] : ["ignore", "pipe", "pipe"],
    });
    options.onChild?.(child);
    const streams = collect(child);
    child.on("error", reject);
    child.on("exit", (code) => {
      const exitedAt = performance.now();
      // The pipes may still hold output: read it once they close.
      child.on("close", () =>
        resolvePromise({
          ms: exitedAt - spawnedAt,
          code,
          stdout: streams.out(),
          stderr: streams.err(),
          spawnedAt,
          exitedAt,
        }),
      );
    });
  });
}

function check(what: string, result: Finished, ok: boolean): void {
  if (result.code !== 0 || !ok) {
    throw new Error(
      `${what} failed (exit ${result.code}):\n${result.stdout.slice(-2000)}\n${result.stderr.slice(-2000)}`,
    );
  }
}

// ------------------------------------------------------------------ rows

interface Target {
  /** "difference": the median minus node -e 0's; "median": the median itself. */
  readonly of: "difference" | "median";
  readonly ms: number;
}

interface RowResult {
  readonly id: RowId;
  readonly label: string;
  readonly samples: number[];
  readonly baseline: number[];
  readonly target?: Target;
  readonly loadBefore: number;
  readonly loadAfter: number;
}

interface Skipped {
  readonly id: RowId;
  readonly label: string;
  readonly reason: string;
}

/** One measured sample of a row (ms); throws when the command did not do its job. */
type Sampler = () => Promise<number>;

/** Warm-up, then node -e 0 and the row in turn, `runs` times. */
async function measure(
  id: RowId,
  label: string,
  home: string,
  sample: Sampler,
  target?: Target,
): Promise<RowResult> {
  const baselineOnce = async () => {
    const r = await timeProcess(["-e", "0"], childEnv(home));
    check("node -e 0", r, true);
    return r.ms;
  };
  const loadBefore = loadavg1();
  log(`${label}: warm-up, then ${runs} runs beside node -e 0 (load ${loadBefore})`);
  await baselineOnce();
  await sample();
  const samples: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < runs; i++) {
    baseline.push(await baselineOnce());
    samples.push(await sample());
    process.stderr.write(`\r  ${i + 1}/${runs}`);
  }
  process.stderr.write("\n");
  return {
    id,
    label,
    samples,
    baseline,
    ...(target ? { target } : {}),
    loadBefore,
    loadAfter: loadavg1(),
  };
}

function versionSampler(home: string): Sampler {
  const version = (
    JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }
  ).version;
  return async () => {
    const r = await timeProcess([WEFT, "--version"], childEnv(home));
    check("weft --version", r, r.stdout.trim() === version);
    return r.ms;
  };
}

function runSampler(home: string, file: string): Sampler {
  return async () => {
    const r = await timeProcess([WEFT, "run", file], childEnv(home));
    const tasks = r.stdout.split("\n").filter((l) => / Success /.test(l)).length;
    check(`weft run ${file}`, r, tasks === 3);
    return r.ms;
  };
}

/** The bench's flow, built once into a local storage that `weft execute` children load. */
async function buildStorage(tmp: string): Promise<{ storage: Storage; location: string }> {
  const storage = createLocalStorage({
    directory: join(tmp, "flows"),
    cacheDir: join(tmp, "cache"),
    hostnameLabel: false,
  });
  const location = storage.addFlow(startupFlow);
  await storage.build();
  return { storage, location };
}

function executeSampler(home: string, storage: Storage, location: string): Sampler {
  const environment = createSubprocessEnvironment();
  return async () => (await timeExecute(environment, storage, location, home)).firstTaskMs;
}

/** Spawn → the worker's "serving" line; then SIGTERM and wait for its exit (not timed). */
function workerSampler(home: string, url: string, prefix: string): Sampler {
  return () =>
    new Promise((resolvePromise, reject) => {
      const spawnedAt = performance.now();
      const child = spawn(
        process.execPath,
        [WEFT, "worker", "start", "--redis", url, "--prefix", prefix, "--queues", "startup-bench"],
        { cwd: ROOT, env: childEnv(home), stdio: ["ignore", "pipe", "pipe"] },
      );
      const streams = collect(child);
      let ready: number | undefined;
      child.stderr!.on("data", () => {
        if (ready === undefined && / serving startup-bench /.test(streams.err())) {
          ready = performance.now() - spawnedAt;
          child.kill("SIGTERM");
        }
      });
      child.on("error", reject);
      // A SIGTERM that arrives before the worker listens for it (the line comes first) kills it outright.
      child.on("close", (code, signal) => {
        if (ready === undefined || (code !== 0 && signal !== "SIGTERM")) {
          reject(new Error(`weft worker start failed (exit ${code}):\n${streams.err()}`));
        } else resolvePromise(ready);
      });
    });
}

async function deleteKeys(url: string, prefix: string): Promise<void> {
  const { Redis } = await import("ioredis");
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

// ------------------------------------------------------------------ output

const ms = (n: number) => `${Math.round(n)} ms`;

function met(row: RowResult): boolean | undefined {
  if (row.target === undefined) return undefined;
  const value =
    row.target.of === "median" ? median(row.samples) : median(row.samples) - median(row.baseline);
  return value <= row.target.ms;
}

function markdown(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  return `${[line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")}\n`;
}

function table(rows: readonly RowResult[], skipped: readonly Skipped[]): string {
  const cells = rows.map((r) => {
    const m = met(r);
    return [
      r.label,
      ms(median(r.samples)),
      ms(percentile(r.samples, 90)),
      ms(Math.min(...r.samples)),
      ms(Math.max(...r.samples)),
      ms(median(r.baseline)),
      `+${Math.round(median(r.samples) - median(r.baseline))} ms`,
      r.target === undefined
        ? "(comparison)"
        : r.target.of === "median"
          ? `≤ ${r.target.ms} ms`
          : `≤ node -e 0 + ${r.target.ms} ms`,
      m === undefined ? "" : m ? "yes" : "no",
      `${r.loadBefore.toFixed(2)}–${r.loadAfter.toFixed(2)}`,
    ];
  });
  for (const s of skipped) cells.push([s.label, "skipped", "", "", "", "", "", "", "", s.reason]);
  return markdown(
    [
      "row",
      "median",
      "p90",
      "min",
      "max",
      "node -e 0 median",
      "difference",
      "target",
      "met",
      "load 1 min",
    ],
    cells,
  );
}

// ------------------------------------------------------------------ profile

interface PhaseReport {
  readonly command: string;
  readonly phases: { readonly phase: string; readonly p50: number }[];
  readonly wallP50: number;
}

interface PhaseOptions {
  readonly env?: Record<string, string>;
  /** The command prints `weft run --json`'s document: split main() at the flow run's start and end. */
  readonly json?: boolean;
  /** The command writes run events to fd 3 (weft execute): split main() at the first task and the end. */
  readonly events?: boolean;
  /** The command serves until stopped (weft worker start): time main() to this stderr line, then SIGTERM. */
  readonly ready?: RegExp;
}

/** Runs start-phases.mjs once with `args`; returns [phase, ms] from spawn to exit. */
async function phasesOnce(
  args: readonly string[],
  home: string,
  tmp: string,
  options: PhaseOptions = {},
): Promise<{ phases: [string, number][]; wall: number }> {
  const marksFile = join(tmp, `marks-${randomUUID()}.json`);
  let firstTask: number | undefined;
  let flowEnd: number | undefined;
  let ready: number | undefined;
  const spawnEpoch = epoch();
  const onChild = (child: ChildProcess) => {
    if (options.events) {
      let buffer = "";
      const events = child.stdio[3] as NodeJS.ReadableStream;
      events.setEncoding("utf8");
      events.on("data", (chunk: string) => {
        buffer += chunk;
        for (let nl = buffer.indexOf("\n"); nl !== -1; nl = buffer.indexOf("\n")) {
          const event = parseEventLine(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
          if (event.event === "task" && event.state.type === "Running")
            firstTask ??= Date.parse(event.state.timestamp);
          if (event.event === "flow" && event.state.type !== "Running")
            flowEnd = Date.parse(event.state.timestamp);
        }
      });
    }
    const readyLine = options.ready;
    if (readyLine) {
      let err = "";
      child.stderr!.on("data", (chunk: Buffer) => {
        err += chunk.toString();
        if (ready === undefined && readyLine.test(err)) {
          ready = epoch();
          // Later than the line, so that the worker listens for it and stops cleanly (writing its marks).
          setTimeout(() => child.kill("SIGTERM"), 300);
        }
      });
    }
  };
  const r = await timeProcess(
    [PHASES, ...args],
    childEnv(home, { ...options.env, WEFT_BENCH_MARKS: marksFile }),
    { fd3: options.events === true, onChild },
  );
  check(`start-phases.mjs ${args.join(" ")}`, r, true);
  const exitEpoch = spawnEpoch + (r.exitedAt - r.spawnedAt);
  const { marks } = JSON.parse(readFileSync(marksFile, "utf8")) as { marks: [string, number][] };
  rmSync(marksFile);
  const phases: [string, number][] = [];
  let previous = spawnEpoch;
  const [[, start], ...rest] = marks as [[string, number], ...[string, number][]];
  phases.push(["node: spawn and boot, to the first line of an ES module", start - previous]);
  previous = start;
  for (const [name, at] of rest) {
    if (name !== "main() returned") {
      phases.push([name, at - previous]);
      previous = at;
      continue;
    }
    // The command itself, taken apart by the timestamps it reports.
    if (ready !== undefined) {
      phases.push([
        "main(): connect to Redis, start the queue workers → serving",
        ready - previous,
      ]);
      return { phases, wall: ready - spawnEpoch };
    }
    let split: [string, number][] = [];
    if (options.json) {
      const out = JSON.parse(r.stdout) as { state: { timestamp: string; startedAt: string } };
      split = [
        [
          "main(): parse argv, import the flow file, build the graph",
          Date.parse(out.state.startedAt),
        ],
        ["the flow run (three tasks)", Date.parse(out.state.timestamp)],
      ];
    } else if (firstTask !== undefined && flowEnd !== undefined) {
      split = [
        [
          "main(): storage from WEFT_STORAGE, verify and import the bundle, start the run",
          firstTask,
        ],
        ["the flow run (first task Running → final state)", flowEnd],
      ];
    }
    for (const [label, t] of split) {
      phases.push([label, t - previous]);
      previous = t;
    }
    phases.push([split.length ? "print the result, return from main()" : "main()", at - previous]);
    previous = at;
  }
  phases.push(["exit (stdout flushed, process.exit, the parent sees it)", exitEpoch - previous]);
  return { phases, wall: r.ms };
}

/** The worker's arguments for --profile, or none without Redis. */
function workerArgs(prefix: string): string[] | undefined {
  return redisUrl
    ? ["worker", "start", "--redis", redisUrl, "--prefix", prefix, "--queues", "startup-bench"]
    : undefined;
}
const SERVING = / serving startup-bench /;

async function phaseReports(
  home: string,
  tmp: string,
  storage: Storage,
  location: string,
  n: number,
  worker: string[] | undefined,
): Promise<PhaseReport[]> {
  const executeEnv = {
    ...storage.getEnvRunner(location).env,
    WEFT_FLOW_RUN_ID: "startup-phases",
    WEFT_PARAMETERS: "{}",
    WEFT_EVENTS_FD: "3",
  };
  const commands: (readonly [string, readonly string[], PhaseOptions])[] = [
    ["node, an empty ES module", ["--empty"], {}],
    ["weft --version", ["--version"], {}],
    [`weft run ${FLOW_TS}`, ["run", FLOW_TS, "--json"], { json: true }],
    [`weft run ${FLOW_MJS}`, ["run", FLOW_MJS, "--json"], { json: true }],
    [
      `weft run ${FLOW_TS}, tsx's transform cache off`,
      ["run", FLOW_TS, "--json"],
      {
        json: true,
        env: { TSX_DISABLE_CACHE: "1" },
      },
    ],
    ["what tsx adds (weft run .ts's hooks, alone)", ["--hooks"], {}],
    [
      "weft execute (subprocess environment, local storage)",
      ["execute"],
      {
        env: executeEnv,
        events: true,
      },
    ],
    ...(worker ? [["weft worker start", worker, { ready: SERVING }] as const] : []),
  ];
  const samples = commands.map(() => [] as { phases: [string, number][]; wall: number }[]);
  log(`profile: start-phases.mjs, ${n} rounds of ${commands.length} commands (load ${loadavg1()})`);
  // Round-robin, so that every command sees the same load.
  for (let i = 0; i <= n; i++) {
    for (const [c, [, args, extra]] of commands.entries()) {
      const s = await phasesOnce(args, home, tmp, extra);
      if (i > 0) samples[c]!.push(s); // round 0 warms up
    }
    process.stderr.write(`\r  ${i}/${n}`);
  }
  process.stderr.write("\n");
  return commands.map(([command], c) => {
    const all = samples[c]!;
    return {
      command,
      phases: all[0]!.phases.map(([phase], k) => ({
        phase,
        p50: median(all.map((s) => s.phases[k]?.[1] ?? 0)),
      })),
      wallP50: median(all.map((s) => s.wall)),
    };
  });
}

interface ProfileReport {
  readonly command: string;
  readonly wallP50: number;
  readonly threads: ThreadProfile[];
}

/** `node --cpu-prof` of the real commands, `n` runs each (after one warm-up), averaged. */
async function cpuProfiles(
  home: string,
  tmp: string,
  storage: Storage,
  location: string,
  n: number,
  worker: string[] | undefined,
): Promise<ProfileReport[]> {
  const interval = "250";
  const commands: (readonly [string, readonly string[], Record<string, string>])[] = [
    ["weft --version", ["--version"], {}],
    [`weft run ${FLOW_TS}`, ["run", FLOW_TS], {}],
    [`weft run ${FLOW_MJS}`, ["run", FLOW_MJS], {}],
    [
      "weft execute",
      ["execute"],
      { ...storage.getEnvRunner(location).env, WEFT_FLOW_RUN_ID: "profile", WEFT_PARAMETERS: "{}" },
    ],
    ...(worker ? [["weft worker start (to serving, then SIGTERM)", worker, {}] as const] : []),
  ];
  log(`profile: node --cpu-prof --cpu-prof-interval ${interval}, ${n} runs of each command`);
  const reports: ProfileReport[] = [];
  for (const [command, args, env] of commands) {
    const runsOf: ThreadProfile[][] = [];
    const walls: number[] = [];
    for (let i = 0; i <= n; i++) {
      const dir = join(tmp, `prof-${randomUUID()}`);
      const r = await timeProcess(
        ["--cpu-prof", "--cpu-prof-dir", dir, "--cpu-prof-interval", interval, WEFT, ...args],
        childEnv(home, env),
        {
          onChild: (child) => {
            if (args[0] !== "worker") return;
            let err = "";
            child.stderr!.on("data", (chunk: Buffer) => {
              err += chunk.toString();
              if (SERVING.test(err)) setTimeout(() => child.kill("SIGTERM"), 300);
            });
          },
        },
      );
      check(`profiled ${command}`, r, true);
      if (i > 0) {
        runsOf.push(readThreadProfiles(dir));
        walls.push(r.ms);
      }
      rmSync(dir, { recursive: true, force: true });
    }
    reports.push({ command, wallP50: median(walls), threads: averageProfiles(runsOf) });
  }
  return reports;
}

function phaseTables(reports: readonly PhaseReport[]): string {
  return reports
    .map((r) => {
      const total = r.phases.reduce((a, p) => a + p.p50, 0);
      return `\n${r.command}: wall p50 ${ms(r.wallP50)} (phases' p50s add up to ${ms(total)})\n\n${markdown(
        ["phase", "p50"],
        r.phases.map((p) => [p.phase, ms(p.p50)]),
      )}`;
    })
    .join("");
}

function profileTables(reports: readonly ProfileReport[]): string {
  return reports
    .map((r) =>
      r.threads
        .map((t) => {
          const shown = t.groups.filter((g) => g.ms >= 1 || g.ms / t.profiledMs >= 0.01);
          return `\n${r.command}, ${t.thread === "main" ? "main thread" : `${t.thread} (module hooks)`}: profiled ${ms(t.profiledMs)} (wall p50 under the profiler ${ms(r.wallP50)})\n\n${markdown(
            ["group (self time, natives counted for their caller)", "ms", "share"],
            shown.map((g) => [
              g.group,
              g.ms.toFixed(1),
              `${((100 * g.ms) / t.profiledMs).toFixed(0)}%`,
            ]),
          )}`;
        })
        .join(""),
    )
    .join("");
}

// --------------------------------------------------------------------- main

async function main(): Promise<void> {
  const build = spawnSync(process.execPath, ["scripts/build.js", "--if-stale", "--js"], {
    cwd: ROOT,
    stdio: ["ignore", 2, 2],
  });
  if (build.status !== 0) throw new Error("node scripts/build.js --if-stale --js failed");
  const tmp = mkdtempSync(join(tmpdir(), "weft-startup-bench-"));
  const home = join(tmp, "home");
  const loadStart = loadavg1();
  log(`node ${process.version}, ${cpus().length} CPUs, load average ${loadStart}`);
  const rows: RowResult[] = [];
  const skipped: Skipped[] = [];
  const prefix = `weft-startup-${randomUUID().slice(0, 8)}`;
  try {
    const { storage, location } = await buildStorage(tmp);
    for (const id of selected) {
      switch (id) {
        case "version":
          rows.push(
            await measure(id, "weft --version", home, versionSampler(home), {
              of: "difference",
              ms: 150,
            }),
          );
          break;
        case "run-ts":
          rows.push(
            await measure(id, `weft run ${FLOW_TS}`, home, runSampler(home, FLOW_TS), {
              of: "median",
              ms: 400,
            }),
          );
          break;
        case "run-mjs":
          rows.push(await measure(id, `weft run ${FLOW_MJS}`, home, runSampler(home, FLOW_MJS)));
          break;
        case "execute":
          rows.push(
            await measure(
              id,
              "weft execute: spawn → first task Running",
              home,
              executeSampler(home, storage, location),
              { of: "median", ms: 250 },
            ),
          );
          break;
        case "worker": {
          const label = "weft worker start: spawn → serving";
          if (redisUrl === undefined || redisUrl === "") {
            const reason =
              "no Redis: pass --redis URL or set WEFT_BENCH_REDIS_URL / WEFT_TEST_REDIS_URL";
            log(`${label}: skipped (${reason})`);
            skipped.push({ id, label, reason });
            break;
          }
          rows.push(
            await measure(id, label, home, workerSampler(home, redisUrl, prefix), {
              of: "median",
              ms: 400,
            }),
          );
          break;
        }
      }
    }
    const profiled = profile
      ? {
          phases: await phaseReports(
            home,
            tmp,
            storage,
            location,
            Math.min(runs, 10),
            workerArgs(prefix),
          ),
          cpu: await cpuProfiles(home, tmp, storage, location, 3, workerArgs(prefix)),
        }
      : undefined;
    const loadEnd = loadavg1();
    log(`load average ${loadEnd}`);
    if (asJson) {
      const round = (n: number) => Math.round(n * 10) / 10;
      const summary = (r: RowResult) => ({
        id: r.id,
        label: r.label,
        runs: r.samples.length,
        medianMs: round(median(r.samples)),
        p90Ms: round(percentile(r.samples, 90)),
        minMs: round(Math.min(...r.samples)),
        maxMs: round(Math.max(...r.samples)),
        nodeBaselineMedianMs: round(median(r.baseline)),
        differenceMs: round(median(r.samples) - median(r.baseline)),
        target: r.target ?? null,
        met: met(r) ?? null,
        load: { before: r.loadBefore, after: r.loadAfter },
        samplesMs: r.samples.map(round),
        nodeBaselineSamplesMs: r.baseline.map(round),
      });
      process.stdout.write(
        `${JSON.stringify(
          {
            date: new Date().toISOString(),
            node: process.version,
            cpus: cpus().length,
            load: { start: loadStart, end: loadEnd },
            rows: rows.map(summary),
            skipped,
            ...(profiled ?? {}),
          },
          null,
          2,
        )}\n`,
      );
    } else {
      process.stdout.write(table(rows, skipped));
      if (profiled) {
        process.stdout.write(`\n## Phases (start-phases.mjs, p50 of fresh processes)\n`);
        process.stdout.write(phaseTables(profiled.phases));
        process.stdout.write(`\n## CPU profiles (node --cpu-prof, mean of 3 runs)\n`);
        process.stdout.write(profileTables(profiled.cpu));
      }
    }
  } finally {
    if (redisUrl && (selected.includes("worker") || profile))
      await deleteKeys(redisUrl, prefix).catch(() => {});
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
