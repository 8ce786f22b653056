// The Kubernetes benchmark of issue 19, against the cluster of WEFT_TEST_KUBECONFIG, the engine
// of WEFT_TEST_CONTAINER_HOST and the loopback registry of WEFT_TEST_REGISTRY (the cluster pulls
// from it), in a namespace of its own:
//
//   node --import tsx --conditions=weftflow-source bench/kubernetes.ts [--runs 10] [--concurrent 20]
//
// latency rows (runs one after the other, one warm-up not counted):
//   - Job run: from the kubernetes environment's `execute()` (the Job is created in it) to the
//     agent side hearing the first task's Running event (from the Pod's log stream), for a flow
//     in container storage pushed to the registry.
//   - kubectl apply: a bare Pod of the same image (`node -e` that waits) applied with kubectl,
//     until `kubectl wait --for=condition=Ready` returns, in the same run, for comparison.
// throughput row: `weft up --no-agent` and one `weft agent start --kubernetes --concurrency N`
//   process; N one-task runs are created at once; runs per second = N / (last end − first start),
//   and the median time from a run's creation to its start.
//
// A table on stdout; progress and the load average on stderr.
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import type { Reporter } from "../src/core/reporter.ts";
import { createKubernetesEnvironment } from "../src/environments/kubernetes/kubernetes-environment.ts";
import { createContainerStorage } from "../src/storage/container-storage.ts";
import {
  register,
  removeTempDirs,
  startAgentProcess,
  startUp,
  stopAll,
  tempDir,
  waitForRun,
} from "../test/e2e/e2e-process.ts";
import {
  createTestNamespace,
  deleteTestNamespace,
  kubectl,
  testKubeconfig,
} from "../test/support/kubernetes.ts";

const FLOWS = "bench/kubernetes-flow.ts";
const host = process.env.WEFT_CONTAINER_HOST ?? process.env.WEFT_TEST_CONTAINER_HOST;
const registry = process.env.WEFT_TEST_REGISTRY;
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

/** execute() → first task Running heard, for `runs` Job runs one after the other (plus a warm-up). */
async function jobLatency(
  namespace: string,
  runs: number,
): Promise<{ samples: number[]; image: string }> {
  const storage = createContainerStorage({
    imageName: "weft-bench/kubernetes-run",
    baseImage,
    registry: registry!,
    ...(host === undefined ? {} : { containerHost: host }),
  });
  const location = storage.addFlow((await import("./kubernetes-flow.ts")).benchKubernetes);
  const built = await storage.build();
  const image = built.getEnvRunner(location).container!.image;
  const environment = createKubernetesEnvironment({ namespace });
  await environment.setup(built, { kubernetes: { kubeconfig: testKubeconfig, namespace } });
  const samples: number[] = [];
  for (let i = 0; i <= runs; i++) {
    let first: number | undefined;
    const start = performance.now();
    const reporter: Reporter = {
      taskState: (_run, _task, _index, state) => {
        if (state.type === "Running") first ??= performance.now();
      },
    };
    const result = await environment.execute(built, location, {
      flowRunId: randomUUID(),
      reporter,
    });
    if (result.state.type !== "Success")
      throw new Error(`run ended ${result.state.type}: ${result.state.message}`);
    if (first === undefined) throw new Error("no task Running heard");
    if (i > 0) samples.push(Math.round(first - start));
  }
  return { samples, image };
}

/** kubectl apply of a bare Pod of `image` → Ready, `runs` times (plus a warm-up). */
function kubectlApply(namespace: string, image: string, runs: number): number[] {
  const samples: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const name = `bench-pod-${i}`;
    const pod = JSON.stringify({
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name, namespace },
      spec: {
        restartPolicy: "Never",
        terminationGracePeriodSeconds: 0,
        containers: [
          {
            name: "c",
            image,
            imagePullPolicy: "IfNotPresent",
            command: ["node", "-e", "setTimeout(() => {}, 60000)"],
          },
        ],
      },
    });
    const start = performance.now();
    kubectl(["apply", "-f", "-"], pod);
    kubectl(["wait", "-n", namespace, "--for=condition=Ready", `pod/${name}`, "--timeout=120s"]);
    if (i > 0) samples.push(Math.round(performance.now() - start));
    kubectl(["delete", "pod", "-n", namespace, name, "--grace-period=0", "--wait=false"]);
  }
  return samples;
}

/** `concurrent` runs created at once through one Kubernetes agent. */
async function throughput(
  namespace: string,
  concurrent: number,
): Promise<{ perSecond: number; toStart: number[] }> {
  const home = tempDir("bench-k8s");
  const env = host === undefined ? {} : { WEFT_CONTAINER_HOST: host };
  const up = await startUp({ home, env, noAgent: true });
  const registered = await register(
    FLOWS,
    [
      "--storage",
      "container",
      "--image-name",
      "weft-bench/kubernetes-run",
      "--registry",
      registry!,
      "--base-image",
      baseImage,
    ],
    { api: up.url, home, env },
  );
  await startAgentProcess({
    home,
    env,
    api: up.url,
    noHostnameLabel: true,
    concurrency: concurrent,
    args: ["--kubernetes", "--namespace", namespace, "--kubeconfig", testKubeconfig!],
  });
  const flowId = registered.flows[0]!.id;
  const created = await Promise.all(
    Array.from({ length: concurrent }, () => up.api.createFlowRun({ flowId })),
  );
  const done = await Promise.all(
    created.map(({ run }) => waitForRun(up.api, run.id, { timeoutMs: 600_000, processes: [up] })),
  );
  const failed = done.find((r) => r.state.type !== "Success");
  if (failed)
    throw new Error(`run ${failed.id} ended ${failed.state.type}: ${failed.state.message}`);
  const first = Math.min(...done.map((r) => Date.parse(r.startTime!)));
  const last = Math.max(...done.map((r) => Date.parse(r.endTime!)));
  return {
    perSecond: concurrent / ((last - first) / 1000),
    toStart: done.map((r) => Date.parse(r.startTime!) - Date.parse(r.createdAt)),
  };
}

async function main(): Promise<void> {
  if (!testKubeconfig || !registry)
    throw new Error("set WEFT_TEST_KUBECONFIG and WEFT_TEST_REGISTRY");
  const build = spawnSync(
    process.execPath,
    [fileURLToPath(new URL("../scripts/build.js", import.meta.url)), "--if-stale", "--js"],
    { stdio: ["ignore", 2, 2] },
  );
  if (build.status !== 0) throw new Error("node scripts/build.js --if-stale --js failed");
  const runs = option("--runs", 10);
  const concurrent = option("--concurrent", 20);
  const namespace = createTestNamespace("bench");
  const rows: string[][] = [];
  try {
    log(`Job runs: ${runs} (+1 warm-up), load average ${load()}`);
    const job = await jobLatency(namespace, runs);
    log(`kubectl apply: ${runs} (+1 warm-up), load average ${load()}`);
    const bare = kubectlApply(namespace, job.image, runs);
    rows.push([
      "execute → first task Running (Job)",
      `${percentile(job.samples, 50)} ms`,
      `${percentile(job.samples, 99)} ms`,
    ]);
    rows.push([
      "kubectl apply → Pod Ready (same image)",
      `${percentile(bare, 50)} ms`,
      `${percentile(bare, 99)} ms`,
    ]);
    log(`throughput: ${concurrent} runs at once, load average ${load()}`);
    const t = await throughput(namespace, concurrent);
    rows.push([`runs/s, one agent, ${concurrent} at once`, t.perSecond.toFixed(2), ""]);
    rows.push([
      "created → run started (same runs)",
      `${percentile(t.toStart, 50)} ms`,
      `${percentile(t.toStart, 99)} ms`,
    ]);
  } finally {
    await stopAll();
    removeTempDirs();
    deleteTestNamespace(namespace);
  }
  const header = ["measure", "p50 / value", "p99"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(" | ")} |`;
  process.stdout.write(
    `${[line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n")}\n`,
  );
  log(`load average ${load()}`);
}

await main();
