// Kubernetes end to end (issue 19), as a user drives it: `weft up --no-agent` (server and loops on
// an ephemeral port), flows registered with `--storage container --registry <loopback registry>
// --environment container` (the image is pushed and named by digest; the cluster's containerd
// pulls it from the same registry over plain HTTP, set up by .ci/kubernetes.sh), and one
// `weft agent start --kubernetes` process outside the cluster (its kubeconfig), which runs every
// claimed run as a Job in a namespace of this file. What happened is read back from the database
// through the API client, and what is left in the cluster through kubectl. Every run's Job and Pod
// must be gone when it ends.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { FlowRunDetail } from "../../src/serialization/api-schemas.ts";
import { runCli } from "../support/cli.ts";
import { explain } from "../support/cli-result.ts";
import {
  baseImage,
  containerHost,
  noContainerEngine,
  noRegistry,
  testRegistry,
} from "../support/containers.ts";
import {
  createTestNamespace,
  deleteTestNamespace,
  kubectl,
  noKubernetes,
  testKubeconfig,
} from "../support/kubernetes.ts";
import {
  logMessages,
  register,
  removeTempDirs,
  type ServerProcess,
  startAgentProcess,
  startUp,
  stopAll,
  summarize,
  taskStates,
  tempDir,
  type WeftProcess,
  waitForRun,
} from "./e2e-process.ts";

const fixtures = "test/fixtures/e2e/kubernetes";
const TEST_TIMEOUT_MS = 300_000;
/** The heartbeat timeout of the server's run health: a crashed run is rescheduled this soon. */
const HEARTBEAT_TIMEOUT_MS = 4000;
/** The label a run's Job and Pod carry. */
const RUN_LABEL = "io.weftflow/run";

interface KubeconfigJson {
  clusters: { cluster: { server: string } }[];
  users: { user: Record<string, unknown> }[];
}

const skip = noKubernetes || noContainerEngine || noRegistry;

// One after another: the kill -9 test replaces the agent the others use.
describe("Kubernetes end to end", { skip, concurrency: 1 }, () => {
  let home: string;
  let up: ServerProcess;
  let namespace: string;
  let flows: Record<string, string>;
  const env = { WEFT_CONTAINER_HOST: containerHost! };
  const agentName = `k8s-e2e-${process.pid}`;
  /** The one Kubernetes agent (replaced by the kill -9 test). */
  let agent: WeftProcess;
  const agents: WeftProcess[] = [];

  function startKubernetesAgent(): Promise<WeftProcess> {
    return startAgentProcess({
      home,
      env,
      api: up.url,
      name: agentName,
      noHostnameLabel: true,
      // k8s:… labels select nodes; the agent must carry them to claim the run at all.
      labels: ["k8s:weft-e2e/absent=yes"],
      concurrency: 8,
      heartbeatIntervalMs: 500,
      args: ["--kubernetes", "--namespace", namespace, "--kubeconfig", testKubeconfig!],
    });
  }

  /** The run's Jobs and Pods left in the namespace (names). */
  function leftInCluster(runId: string): string[] {
    const out = kubectl([
      "get",
      "jobs,pods",
      "-n",
      namespace,
      "-l",
      `${RUN_LABEL}=${runId.toLowerCase()}`,
      "-o",
      "name",
    ]);
    return out.split("\n").filter((l) => l !== "");
  }

  /**
   * Waits (up to 120 s) until nothing of the run is left in the cluster: a deleted Pod stays
   * listed while the kubelet stops its container, which takes long on a loaded node.
   */
  async function assertNothingLeft(runId: string): Promise<void> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const left = leftInCluster(runId);
      if (left.length === 0) return;
      assert.ok(Date.now() < deadline, `left in the cluster: ${left.join(", ")}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async function runToEnd(
    request: { flowName?: string; flowId?: string; parameters?: Record<string, number> },
    timeoutMs = 90_000,
  ): Promise<FlowRunDetail> {
    const { run } = await up.api.createFlowRun(request);
    const done = await waitForRun(up.api, run.id, { timeoutMs, processes: [up, agent] });
    await assertNothingLeft(run.id);
    return done;
  }

  before(async () => {
    namespace = createTestNamespace("k8sagent-e2e");
    home = tempDir("k8s-home");
    up = await startUp({
      home,
      env,
      noAgent: true,
      loops: {
        loopIntervalMs: 300,
        heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
        maxReschedules: 1,
      },
    });
    const registered = await register(
      `${fixtures}/flows.ts`,
      [
        "--storage",
        "container",
        "--environment",
        "container",
        "--image-name",
        "k8sagent-e2e/flows",
        "--registry",
        testRegistry!,
        "--base-image",
        baseImage,
      ],
      { api: up.url, home, env },
    );
    flows = Object.fromEntries(registered.flows.map((f) => [f.name, f.id]));
    agent = await startKubernetesAgent();
    agents.push(agent);
  });

  after(async () => {
    await stopAll();
    removeTempDirs();
    if (namespace !== undefined) deleteTestNamespace(namespace);
  });

  test("weft run --remote --wait: the tasks ran in a Pod of a Job, states and logs in the database, the Job gone", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const result = await runCli(
      [
        "run",
        "--remote",
        "k8s-e2e-where",
        "--param",
        "name=k8s",
        "--wait",
        "--json",
        "--api",
        up.url,
      ],
      { env: { WEFT_HOME: home }, timeoutMs: 120_000 },
    );
    assert.equal(result.code, 0, explain(result));
    const id = (JSON.parse(result.stdout) as { id: string }).id;
    const run = await up.api.getFlowRun(id);
    assert.equal(run.state.type, "Success", summarize(run));
    assert.deepEqual(taskStates(run), {
      name: "Success",
      "where-1": "Success",
      "shout-1": "Success",
    });
    const logs = await logMessages(up.api, id);
    const line = logs.find((m) => m.startsWith("in pod: "));
    assert.ok(line, `the task's log is in the database: ${logs.join(" | ")}`);
    // A Job's Pod is named after the Job (weft-<run id>…) and the kubelet sets the service host.
    const [, podName, service] = /hostname=(\S+) service=(\S+)/.exec(line) ?? [];
    assert.notEqual(podName, hostname());
    assert.match(podName ?? "", /^weft-[a-z0-9-]+$/, line);
    assert.notEqual(service, "(none)", line);
    await assertNothingLeft(id);
  });

  test("a cancelled run: its Job and Pod are deleted, the run ends Cancelled", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const { run } = await up.api.createFlowRun({
      flowId: flows["k8s-e2e-nap"]!,
      parameters: { ms: 120_000 },
    });
    await waitForRun(up.api, run.id, {
      until: (r) => taskStates(r)["nap-1"] === "Running",
      what: "nap-1 Running",
      timeoutMs: 90_000,
      processes: [up, agent],
    });
    assert.ok(leftInCluster(run.id).length > 0, "its Job and Pod are there while it runs");
    await up.api.cancelFlowRun(run.id);
    const done = await waitForRun(up.api, run.id, { timeoutMs: 60_000, processes: [up, agent] });
    assert.equal(done.state.type, "Cancelled", summarize(done));
    await assertNothingLeft(run.id);
  });

  test("a node label no node has: the Pod stays Pending and the run says why", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const own = await register(
      `${fixtures}/pending.ts`,
      [
        "--storage",
        "container",
        "--image-name",
        "k8sagent-e2e/pending",
        "--registry",
        testRegistry!,
        "--base-image",
        baseImage,
      ],
      { api: up.url, home, env },
    );
    const run = await runToEnd({ flowId: own.flows[0]!.id });
    assert.notEqual(run.state.type, "Success", summarize(run));
    const said = [
      run.state.message ?? "",
      ...run.history.map((s) => s.message ?? ""),
      ...(await logMessages(up.api, run.id)),
    ].join(" | ");
    assert.match(said, /weft-e2e\/absent|node selector|nodeSelector|Unschedulable|schedul/i, said);
  });

  test("the Pod deleted from outside mid-run: the run is rescheduled and completes", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const { run } = await up.api.createFlowRun({
      flowId: flows["k8s-e2e-nap"]!,
      parameters: { ms: 6000 },
    });
    await waitForRun(up.api, run.id, {
      until: (r) => taskStates(r)["nap-1"] === "Running",
      what: "nap-1 Running",
      timeoutMs: 90_000,
      processes: [up, agent],
    });
    kubectl([
      "delete",
      "pods",
      "-n",
      namespace,
      "-l",
      `${RUN_LABEL}=${run.id.toLowerCase()}`,
      "--wait=false",
    ]);
    const done = await waitForRun(up.api, run.id, { timeoutMs: 120_000, processes: [up, agent] });
    assert.equal(done.state.type, "Success", summarize(done));
    assert.ok(
      done.history.some((s) => /rescheduled by run health/.test(s.message ?? "")),
      summarize(done),
    );
    await assertNothingLeft(run.id);
  });

  test("the agent killed -9 mid-run and restarted: its Job is reaped, the run ends once", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const { run } = await up.api.createFlowRun({
      flowId: flows["k8s-e2e-nap"]!,
      parameters: { ms: 8000 },
    });
    await waitForRun(up.api, run.id, {
      until: (r) => taskStates(r)["nap-1"] === "Running",
      what: "nap-1 Running",
      timeoutMs: 90_000,
      processes: [up, agent],
    });
    agent.kill("SIGKILL");
    await agent.done.catch(() => {});
    assert.ok(leftInCluster(run.id).length > 0, "kill -9 leaves the Job");
    agent = await startKubernetesAgent();
    agents.push(agent);
    assert.match(
      agent.stderr(),
      /removed \d+ kubernetes run\(s\) an earlier agent of this name left/,
    );
    const done = await waitForRun(up.api, run.id, { timeoutMs: 120_000, processes: [up, agent] });
    assert.equal(done.state.type, "Success", summarize(done));
    const finals = done.history.filter((s) => ["Success", "Failed", "Cancelled"].includes(s.type));
    assert.equal(finals.length, 1, `ended exactly once: ${summarize(done)}`);
    await assertNothingLeft(run.id);
  });

  /** A run of k8s-e2e-where claimed by an agent of its own (`label`) with these settings. */
  async function badAgentRun(label: string, args: readonly string[]): Promise<FlowRunDetail> {
    const bad = await startAgentProcess({
      home,
      env,
      api: up.url,
      name: `k8s-e2e-${label}-${process.pid}`,
      noHostnameLabel: true,
      labels: [label],
      heartbeatIntervalMs: 500,
      args: ["--kubernetes", ...args],
    });
    agents.push(bad);
    const { run } = await up.api.createFlowRun({
      flowId: flows["k8s-e2e-where"]!,
      labels: [label],
    });
    const done = await waitForRun(up.api, run.id, { timeoutMs: 60_000, processes: [up, bad] });
    await bad.stop();
    assert.deepEqual(leftInCluster(run.id), [], "nothing left running");
    return done;
  }

  /** The test kubeconfig (its current context), changed by `edit`, as a file (JSON is YAML). */
  function kubeconfigWith(name: string, edit: (config: KubeconfigJson) => void): string {
    const config = JSON.parse(
      kubectl(["config", "view", "--raw", "--minify", "-o", "json"]),
    ) as KubeconfigJson;
    edit(config);
    const path = join(tempDir(`k8s-${name}`), "kubeconfig");
    writeFileSync(path, JSON.stringify(config));
    return path;
  }

  test("bad input: a cluster that does not answer fails the run at deploy, naming its URL", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const unreachable = kubeconfigWith("unreachable", (c) => {
      c.clusters[0]!.cluster.server = "https://127.0.0.1:9";
    });
    const run = await badAgentRun("bad-unreachable", [
      "--namespace",
      namespace,
      "--kubeconfig",
      unreachable,
    ]);
    assert.equal(run.state.type, "Failed", summarize(run));
    assert.match(run.state.message ?? "", /^deploy failed: .*127\.0\.0\.1:9/);
    assert.equal(run.state.error?.code, "KUBERNETES_UNREACHABLE");
  });

  test("bad input: a namespace that does not exist fails the run at deploy, naming it", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const missing = `weft-missing-${process.pid}`;
    const run = await badAgentRun("bad-namespace", [
      "--namespace",
      missing,
      "--kubeconfig",
      testKubeconfig!,
    ]);
    assert.equal(run.state.type, "Failed", summarize(run));
    assert.match(run.state.message ?? "", new RegExp(`^deploy failed: .*${missing}`));
    assert.equal(run.state.error?.code, "KUBERNETES_NAMESPACE_NOT_FOUND");
  });

  test("bad input: credentials without the Jobs permission fail the run at deploy, naming what is missing", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    // The namespace's default service account: authenticated, granted nothing.
    const secret = kubectl([
      "get",
      "serviceaccount",
      "default",
      "-n",
      namespace,
      "-o",
      "jsonpath={.secrets[0].name}",
    ]).trim();
    const token = Buffer.from(
      kubectl(["get", "secret", secret, "-n", namespace, "-o", "jsonpath={.data.token}"]),
      "base64",
    ).toString("utf8");
    const denied = kubeconfigWith("denied", (c) => {
      c.users[0]!.user = { token };
    });
    const run = await badAgentRun("bad-rbac", ["--namespace", namespace, "--kubeconfig", denied]);
    assert.equal(run.state.type, "Failed", summarize(run));
    assert.match(run.state.message ?? "", /^deploy failed: .*may not create jobs/);
    assert.equal(run.state.error?.code, "KUBERNETES_FORBIDDEN");
  });

  test("installed in the cluster (weft agent install kubernetes | kubectl apply): the agent's Pod registers and runs a flow as a Job", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const detail = await up.api.getFlow(flows["k8s-e2e-where"]!);
    // The flow image holds weft at /opt/weftflow: it serves as the agent's image too.
    const image = (detail.storage as unknown as { image: string }).image;
    const manifests = await runCli([
      "agent",
      "install",
      "kubernetes",
      "--namespace",
      namespace,
      "--image",
      image,
      "--api",
      up.url,
      "--name",
      "weft-incluster",
      "--labels",
      "in-cluster",
      // This cluster has no Service routing or DNS: the Pod reaches the server (and the API
      // server, below) on the node's loopback.
      "--host-network",
      "--json",
    ]);
    assert.equal(manifests.code, 0, explain(manifests));
    const list = JSON.parse(manifests.stdout) as {
      items: Array<{
        kind: string;
        spec?: { template: { spec: { containers: Array<{ env: unknown[] }> } } };
      }>;
    };
    // In-cluster credentials name the API server by its Service address, which nothing routes
    // here: point them at the node's loopback before the Deployment's first Pod starts.
    const deployment = list.items.find((m) => m.kind === "Deployment")!;
    deployment.spec!.template.spec.containers[0]!.env.push(
      { name: "KUBERNETES_SERVICE_HOST", value: "127.0.0.1" },
      { name: "KUBERNETES_SERVICE_PORT", value: "6443" },
    );
    kubectl(["apply", "-f", "-"], JSON.stringify(list));
    try {
      const deadline = Date.now() + 90_000;
      for (;;) {
        const agents = await up.api.listAgents();
        if (agents.some((a) => a.name === "weft-incluster")) break;
        if (Date.now() > deadline) {
          const logs = spawnLogs();
          assert.fail(`the in-cluster agent did not register within 90 s:\n${logs}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      const { run } = await up.api.createFlowRun({
        flowId: flows["k8s-e2e-where"]!,
        labels: ["in-cluster"],
      });
      const done = await waitForRun(up.api, run.id, { timeoutMs: 90_000, processes: [up] });
      assert.equal(done.state.type, "Success", `${summarize(done)}\n${spawnLogs()}`);
      assert.match(done.history[1]?.message ?? "", /claimed by agent "weft-incluster"/);
      await assertNothingLeft(run.id);
    } finally {
      kubectl(["delete", "deployment", "-n", namespace, "weft-incluster", "--wait=false"]);
    }
  });

  function spawnLogs(): string {
    try {
      return kubectl(["logs", "-n", namespace, "deployment/weft-incluster", "--tail=30"]);
    } catch (error) {
      return String(error);
    }
  }
});
