// The container run benchmark of issue 15, against the real engine of WEFT_CONTAINER_HOST (or
// WEFT_TEST_CONTAINER_HOST) and a base image with node (WEFT_TEST_BASE_IMAGE):
//
//   node --import tsx --conditions=weftflow-source bench/containers-run.ts [--runs 20] [--backlog 32]
//
// latency rows (runs one after the other, one warm-up not counted):
//   - container run: from `execute()` (the container is created in it) to the parent hearing the
//     first task's Running event, for a flow in container storage (its image built first) run by
//     the container environment (network none). Target p50 ≤ 700 ms.
//   - podman run: Podman's own `podman run --rm --network none <base> /bin/sh -c :` (the base
//     image has no /bin/true), in the same process, for comparison (~300 ms on this machine).
// throughput row: a backlog of one-task container runs is created in `weft up` (its one agent,
//   --concurrency 8), then drained; runs per second = backlog / (last run's end - first start).
//
// A table on stdout; progress and the load average on stderr.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { ContainerEngine } from "../src/containers/engine.ts";
import type { Reporter } from "../src/core/reporter.ts";
import { createContainerEnvironment } from "../src/environments/container/container-environment.ts";
import { createContainerStorage } from "../src/storage/container-storage.ts";
import {
  register,
  removeTempDirs,
  startUp,
  stopAll,
  tempDir,
  waitForRun,
} from "../test/e2e/e2e-process.ts";
import { benchContainer } from "./containers-run-flow.ts";

const FLOWS = "bench/containers-run-flow.ts";
const host = process.env.WEFT_CONTAINER_HOST ?? process.env.WEFT_TEST_CONTAINER_HOST;
const baseImage = process.env.WEFT_TEST_BASE_IMAGE ?? "localhost/weft-node-base:20";

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

const log = (line: string) => process.stderr.write(`${line}\n`);
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");

/** execute() → first task Running heard, for `runs` runs one after the other (plus a warm-up). */
async function containerLatency(runs: number): Promise<number[]> {
  const storage = createContainerStorage({
    imageName: "weft-bench/containers-run",
    baseImage,
    ...(host === undefined ? {} : { containerHost: host }),
  });
  const location = storage.addFlow(benchContainer);
  await storage.build();
  const environment = createContainerEnvironment();
  await environment.setup(storage, { ...(host === undefined ? {} : { containerHost: host }) });
  const samples: number[] = [];
  for (let i = 0; i <= runs; i++) {
    let first: number | undefined;
    const start = performance.now();
    const reporter: Reporter = {
      taskState: (_run, _task, _index, state) => {
        if (state.type === "Running") first ??= performance.now();
      },
    };
    const result = await environment.execute(storage, location, {
      flowRunId: randomUUID(),
      reporter,
    });
    if (result.state.type !== "Success") throw new Error(`run ended ${result.state.type}`);
    if (first === undefined) throw new Error("no task Running heard");
    if (i > 0) samples.push(Math.round(first - start));
  }
  return samples;
}

/** Podman's own `run` of a no-op in the base image. */
function podmanRun(runs: number): number[] {
  const samples: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const start = performance.now();
    const ran = spawnSync(
      "podman",
      ["run", "--rm", "--network", "none", baseImage, "/bin/sh", "-c", ":"],
      { stdio: "ignore" },
    );
    if (ran.status !== 0) throw new Error(`podman run exited ${ran.status}`);
    if (i > 0) samples.push(Math.round(performance.now() - start));
  }
  return samples;
}

/** Runs completed per second by `weft up`'s one agent (concurrency 8), from a backlog. */
async function throughput(backlog: number): Promise<number> {
  const home = tempDir("bench-ctr");
  const env = host === undefined ? {} : { WEFT_CONTAINER_HOST: host };
  const up = await startUp({ home, env, concurrency: 8, noAgent: false });
  const registered = await register(
    FLOWS,
    [
      "--storage",
      "container",
      "--environment",
      "container",
      "--image-name",
      "weft-bench/containers-run",
      "--base-image",
      baseImage,
    ],
    { api: up.url, home, env },
  );
  const flowId = registered.flows[0]!.id;
  const created = await Promise.all(
    Array.from({ length: backlog }, () => up.api.createFlowRun({ flowId })),
  );
  const done = await Promise.all(
    created.map(({ run }) => waitForRun(up.api, run.id, { timeoutMs: 600_000, processes: [up] })),
  );
  const failed = done.find((r) => r.state.type !== "Success");
  if (failed)
    throw new Error(`run ${failed.id} ended ${failed.state.type}: ${failed.state.message}`);
  const first = Math.min(...done.map((r) => Date.parse(r.startTime!)));
  const last = Math.max(...done.map((r) => Date.parse(r.endTime!)));
  return backlog / ((last - first) / 1000);
}

async function main(): Promise<void> {
  const build = spawnSync(
    process.execPath,
    [fileURLToPath(new URL("../scripts/build.js", import.meta.url)), "--if-stale", "--js"],
    { stdio: ["ignore", 2, 2] },
  );
  if (build.status !== 0) throw new Error("node scripts/build.js --if-stale --js failed");
  await new ContainerEngine(host).ping();
  const runs = option("--runs", 20);
  const backlog = option("--backlog", 32);
  const rows: string[][] = [];
  try {
    log(`container runs: ${runs} (+1 warm-up), load average ${load()}`);
    const ctr = await containerLatency(runs);
    log(`podman run: ${runs} (+1 warm-up), load average ${load()}`);
    const podman = podmanRun(runs);
    const p50 = percentile(ctr, 50);
    rows.push([
      "execute → first task Running (container)",
      `${p50} ms`,
      `${percentile(ctr, 99)} ms`,
      "p50 ≤ 700 ms",
      p50 <= 700 ? "yes" : "no",
    ]);
    rows.push([
      "podman run --rm --network none sh -c :",
      `${percentile(podman, 50)} ms`,
      `${percentile(podman, 99)} ms`,
      "(reference)",
      "",
    ]);
    log(`throughput: a backlog of ${backlog} runs, load average ${load()}`);
    const perSecond = await throughput(backlog);
    rows.push(["runs/s, one agent, concurrency 8 (container)", perSecond.toFixed(1), "", "", ""]);
  } finally {
    await stopAll();
    removeTempDirs();
  }
  const header = ["measure", "p50 / value", "p99", "target", "met"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  process.stdout.write(
    `${[line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")}\n`,
  );
  log(`load average ${load()}`);
}

await main();
