// The end-to-end benchmark of issue 6, against a real `weft up` (SQLite, its
// local agent) on an ephemeral port:
//
//   node --import tsx bench/e2e/e2e-bench.ts [--runs 30] [--backlog 5000] [--concurrency 64] [--agents 1] [--throughput-only]
//     [--postgres [url]] [--profile dir]
//
// latency rows: from the API's create-run call (what `weft run --remote` makes)
//   to the first task starting, i.e. the task run's Running timestamp (taken by
//   the engine where the task runs) minus the moment the create request was
//   sent; runs one after the other, one warm-up run not counted. Local
//   environment (target p50 <= 10 ms, issue 16) and subprocess (target p50 <= 350 ms, the package issue's).
// throughput row: a backlog of one-task runs (local environment) is created
//   first, then one `weft agent start --concurrency N` drains it; runs completed
//   per second = backlog / (last run's end - first run's start). Target >= 1000/s
//   (issue 16); `--agents 2` drains it with two agents.
//
// --postgres: `weft up` on PostgreSQL (the URL given, else WEFT_TEST_POSTGRES_URL), in a
//   fresh schema dropped after, as bench/server does. --profile <dir>: the server and the
//   throughput agents run with the V8 profiler (cpu-profile.mjs), writing .cpuprofile files
//   into <dir> when they stop.
//
// The weft processes run dist/ (bin/weft.js): it is rebuilt first when src/ is
// newer, as npm test does. A table on stdout; progress and the load average on stderr.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { loadavg } from "node:os";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ApiClient } from "../../src/client/api-client.ts";
import type { FlowRunDetail, FlowRunRecord } from "../../src/serialization/api-schemas.ts";
import {
  describeOutput,
  register,
  removeTempDirs,
  type ServerProcess,
  startAgentProcess,
  startUp,
  stopAll,
  tempDir,
  waitForRun,
} from "../../test/e2e/e2e-process.ts";
import { createSchema, dropSchema, withSearchPath } from "../../test/server/dialects.ts";

const FLOWS = "bench/e2e/bench-flows.ts";
/** Only the throughput row's agent carries it: `weft up`'s own agent leaves that backlog alone. */
const THROUGHPUT_LABEL = "bench-throughput";

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

/** The value after `name`, when it is not another flag. */
function optionText(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  const value = at === -1 ? undefined : process.argv[at + 1];
  return value === undefined || value.startsWith("--") ? undefined : value;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");

/**
 * Where create → first task goes, one run: the create request until the server stored the run
 * (its Scheduled state's time), until an agent's claim committed (Submitted), until the agent
 * started it (the flow's Running), until the first task ran (the task's Running). One clock:
 * every process runs on this machine.
 */
const PHASES = ["create", "claim", "deploy", "first task"] as const;

function phases(sent: number, run: FlowRunDetail, taskStart: string): number[] {
  const at = (type: string) => Date.parse(run.history.find((s) => s.type === type)!.timestamp);
  const marks = [sent, at("Scheduled"), at("Submitted"), at("Running"), Date.parse(taskStart)];
  return PHASES.map((_, i) => marks[i + 1]! - marks[i]!);
}

/** Create → first task Running, in ms, for `runs` runs one after the other (plus one warm-up). */
async function latency(up: ServerProcess, flowId: string, runs: number): Promise<number[]> {
  const samples: number[] = [];
  const parts: number[][] = PHASES.map(() => []);
  for (let i = 0; i <= runs; i++) {
    const sent = Date.now();
    const { run } = await up.api.createFlowRun({ flowId });
    const done = await waitForRun(up.api, run.id, { timeoutMs: 60_000, processes: [up] });
    if (done.state.type !== "Success") throw new Error(`run ${run.id} ended ${done.state.type}`);
    const task = done.taskRuns.find((t) => t.slug === "one-1");
    if (task?.startTime === undefined) throw new Error(`run ${run.id}: no start time of one-1`);
    if (i === 0) continue;
    samples.push(Date.parse(task.startTime) - sent);
    for (const [p, ms] of phases(sent, done, task.startTime).entries()) parts[p]!.push(ms);
  }
  log(
    `  where it goes (p50 ms): ${PHASES.map((name, p) => `${name} ${percentile(parts[p]!, 50)}`).join(", ")}`,
  );
  return samples;
}

/** User + system CPU time of processes, in ms (Linux: /proc/<pid>/stat, in clock ticks of 10 ms). */
function cpuMs(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
  }
  return ticks * 10;
}

async function allRuns(api: ApiClient, flowId: string): Promise<FlowRunRecord[]> {
  const runs: FlowRunRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.listFlowRuns({
      flowId,
      limit: 500,
      ...(cursor === undefined ? {} : { cursor }),
    });
    runs.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return runs;
}

/**
 * Runs completed per second by one agent: a backlog is created first (for a
 * label no agent carries yet), then one `weft agent start` with that label
 * drains it; the rate is backlog / (last run's end - first run's start).
 */
async function throughput(
  up: ServerProcess,
  flowId: string,
  backlog: number,
  concurrency: number,
  home: string,
  agents: number,
  env: Readonly<Record<string, string>>,
): Promise<number> {
  const createStart = Date.now();
  for (let i = 0; i < backlog; i += 50) {
    await Promise.all(
      Array.from({ length: Math.min(50, backlog - i) }, () => up.api.createFlowRun({ flowId })),
    );
  }
  log(`created ${backlog} runs in ${Date.now() - createStart} ms; starting the agent`);
  const started = await Promise.all(
    Array.from({ length: agents }, (_, i) =>
      startAgentProcess({
        home,
        api: up.url,
        name: `bench-throughput-${i + 1}`,
        labels: [THROUGHPUT_LABEL],
        concurrency,
        env,
      }),
    ),
  );
  // CPU time of the server and the agents while the backlog drains, per run: what the
  // machine's load does not change much (the rate it bounds is 2 cores / this).
  const agentPids = started.map((a) => a.pid);
  const serverBefore = cpuMs([up.pid]);
  const agentsBefore = cpuMs(agentPids);
  try {
    // While the backlog drains, only one cheap question a poll (any run not finished yet?),
    // so that the benchmark's own reads cost the server little; the full list once at the end.
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const open = await up.api.listFlowRuns({
        flowId,
        state: "Scheduled,Submitted,Running",
        limit: 1,
      });
      if (open.items.length === 0) break;
    }
    const serverCpu = cpuMs([up.pid]) - serverBefore;
    const agentsCpu = cpuMs(agentPids) - agentsBefore;
    const cpu = serverCpu + agentsCpu;
    log(
      `server + agents CPU: ${(cpu / backlog).toFixed(2)} ms a run (${cpu} ms in all; server ${(serverCpu / backlog).toFixed(2)}, agents ${(agentsCpu / backlog).toFixed(2)})`,
    );
    const runs = await allRuns(up.api, flowId);
    if (runs.some((r) => r.state.type !== "Success")) throw new Error("a throughput run failed");
    const first = Math.min(...runs.map((r) => Date.parse(r.startTime!)));
    const last = Math.max(...runs.map((r) => Date.parse(r.endTime!)));
    return backlog / ((last - first) / 1000);
  } finally {
    for (const result of await Promise.all(started.map((a) => a.stop())))
      if (result.code !== 0) log(`an agent ended with ${result.code ?? result.signal}`);
  }
}

async function main(): Promise<void> {
  const build = spawnSync(
    process.execPath,
    [fileURLToPath(new URL("../../scripts/build.js", import.meta.url)), "--if-stale", "--js"],
    { stdio: ["ignore", 2, 2] },
  );
  if (build.status !== 0) throw new Error("node scripts/build.js --if-stale --js failed");
  const runs = option("--runs", 30);
  const backlog = option("--backlog", 5000);
  const agents = option("--agents", 1);
  const concurrency = option("--concurrency", 64);
  const home = tempDir("bench");
  const profileDir = optionText("--profile");
  const processEnv: Record<string, string> =
    profileDir === undefined
      ? {}
      : {
          // Node 20 refuses --cpu-prof in NODE_OPTIONS: a preload starts the profiler instead.
          NODE_OPTIONS: `--import=${fileURLToPath(new URL("cpu-profile.mjs", import.meta.url))}`,
          WEFT_BENCH_PROFILE_DIR: resolve(profileDir),
        };
  const postgres = process.argv.includes("--postgres")
    ? (optionText("--postgres") ?? process.env.WEFT_TEST_POSTGRES_URL)
    : undefined;
  if (process.argv.includes("--postgres") && postgres === undefined)
    throw new Error("--postgres needs a URL or WEFT_TEST_POSTGRES_URL");
  const schema = postgres === undefined ? undefined : await createSchema(postgres);
  const db = schema === undefined ? undefined : withSearchPath(postgres!, schema);
  log(
    `load average ${load()}; starting weft up on ${schema === undefined ? "SQLite" : `PostgreSQL (schema ${schema})`}`,
  );
  const up = await startUp({ home, env: processEnv, ...(db === undefined ? {} : { db }) });
  try {
    const env = { api: up.url, home };
    const local = await register(FLOWS, ["--flow", "e2e-bench-local"], env);
    const sub = await register(
      FLOWS,
      ["--flow", "e2e-bench-subprocess", "--environment", "subprocess"],
      env,
    );
    const thr = await register(
      FLOWS,
      ["--flow", "e2e-bench-throughput", "--labels", THROUGHPUT_LABEL],
      env,
    );
    const rows: string[][] = [];
    const latencyRows = process.argv.includes("--throughput-only")
      ? []
      : ([
          ["local", local, 10],
          ["subprocess", sub, 350],
        ] as const);
    for (const [name, flow, target] of latencyRows) {
      log(`${name}: ${runs} runs (+1 warm-up), load average ${load()}`);
      const samples = await latency(up, flow.flows[0]!.id, runs);
      const p50 = percentile(samples, 50);
      rows.push([
        `create → first task (${name})`,
        `${p50} ms`,
        `${percentile(samples, 99)} ms`,
        `p50 ≤ ${target} ms`,
        p50 <= target ? "yes" : "no",
      ]);
    }
    log(`throughput: a backlog of ${backlog} runs, load average ${load()}`);
    const perSecond = await throughput(
      up,
      thr.flows[0]!.id,
      backlog,
      concurrency,
      home,
      agents,
      processEnv,
    );
    const target = schema === undefined ? 1000 : 500;
    rows.push([
      `runs/s, ${agents === 1 ? "one agent" : `${agents} agents`}, concurrency ${concurrency} (local, ${schema === undefined ? "SQLite" : "PostgreSQL"})`,
      perSecond.toFixed(0),
      "",
      `≥ ${target}/s`,
      perSecond >= target ? "yes" : "no",
    ]);
    const header = ["measure", "p50 / value", "p99", "target", "met"];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: readonly string[]) =>
      `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
    process.stdout.write(
      `${[line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")}\n`,
    );
    log(`load average ${load()}`);
  } catch (error) {
    log(describeOutput(up));
    throw error;
  } finally {
    await stopAll();
    removeTempDirs();
    if (schema !== undefined) await dropSchema(postgres!, schema);
  }
}

await main();
