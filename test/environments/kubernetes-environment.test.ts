// The kubernetes environment against a real cluster (the single-node Kubernetes 1.20 of
// .ci/kubernetes.sh; WEFT_TEST_KUBECONFIG): runs as Jobs of weft's runtime image pushed to the
// loopback registry, fetching their bundle from an http artifact server on loopback (the Pod
// on host networking), events and logs back from the Pod's log stream; exit codes, out of
// memory, the deadline, cancel, a Pod deleted from outside, reaping; bad input refused in one
// line. Every test works in this file's own namespace, deleted at the end; no Job may be left.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { ContainerEngine } from "../../src/containers/engine.ts";
import type { Flow } from "../../src/core/flow.ts";
import { createContainerEnvironment } from "../../src/environments/container/container-environment.ts";
import type { EnvironmentHost, ExecuteContext } from "../../src/environments/environment.ts";
import {
  createKubernetesEnvironment,
  type KubernetesEnvironmentOptions,
  kubernetesEnvironmentKind,
} from "../../src/environments/kubernetes/kubernetes-environment.ts";
import {
  buildJob,
  jobName,
  nodeSelectorFromLabels,
} from "../../src/environments/kubernetes/kubernetes-job.ts";
import { environmentFromJSON } from "../../src/environments/registry.ts";
import {
  KUBE_OWNER_LABEL,
  KUBE_RUN_LABEL,
  KubeClient,
  type KubeJob,
} from "../../src/kubernetes/kube-client.ts";
import { createContainerStorage } from "../../src/storage/container-storage.ts";
import { createHttpStorage } from "../../src/storage/http-storage.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import { formatLocation, type Storage } from "../../src/storage/storage.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";
import { exitFlow, hogFlow, napFlow, whereFlow } from "../fixtures/environments/container-flows.ts";
import { envFlow } from "../fixtures/environments/kubernetes-flows.ts";
import { containerHost, noRegistry, testRegistry } from "../support/containers.ts";
import {
  createTestNamespace,
  deleteTestNamespace,
  kubectl,
  noKubernetes,
  testKubeconfig,
} from "../support/kubernetes.ts";
import { testRuntimeImage } from "../support/runtime-image.ts";
import { waitUntil } from "../support/weft-process.ts";
import { expectCode, repoRoot } from "./environment-helpers.ts";

/** A resolve hook that fails any import of the Kubernetes client (ESM: not in require's cache). */
const FORBID_CLIENT = `data:text/javascript,${encodeURIComponent(
  `export async function resolve(s, c, next) {
     if (s.includes("@kubernetes/client-node")) throw new Error("@kubernetes/client-node was imported");
     return next(s, c);
   }`,
)}`;

describe("kubernetes environment: cost where Kubernetes is not used", () => {
  test("importing the registries and weftflow (what every weft execute does) does not load the Kubernetes client", () => {
    const probe = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=weftflow-source",
        "--input-type=module",
        "-e",
        `const { register } = await import("node:module");
         register(${JSON.stringify(FORBID_CLIENT)});
         await import("./src/storage/registry.ts");
         await import("./src/environments/registry.ts");
         await import("./src/index.ts");
         let refused = false;
         try { await import("@kubernetes/client-node"); } catch { refused = true; }
         console.log(refused ? "not loaded" : "hook missing");`,
      ],
      { cwd: repoRoot, encoding: "utf8" },
    );
    assert.equal(probe.status, 0, probe.stderr);
    // The last import proves the hook works: it refused the client when asked for it.
    assert.equal(probe.stdout.trim(), "not loaded");
  });
});

describe("kubernetes environment: options", () => {
  test("secret:NAME/KEY is the kubernetes environment's: the container environment refuses it", async () => {
    const error = await expectCode(
      () => createContainerEnvironment({ env: { DB_PASSWORD: "secret:db/password" } }),
      "INVALID_FLOW_OPTIONS",
      "a Secret reference in a container environment",
    );
    assert.match(error.message, /env\.DB_PASSWORD is a Kubernetes Secret reference/);
  });

  test("the Job: weft's fields win over the template, which keeps its own", () => {
    const job = buildJob({
      name: "weft-run-1",
      runId: "run-1",
      owner: "agent one",
      image: "registry.example/flows@sha256:" + "b".repeat(64),
      command: ["node", "weft.js", "execute"],
      env: { A: "1" },
      secretEnv: { B: "secret:s/k" },
      imagePullPolicy: "IfNotPresent",
      terminationGracePeriodSeconds: 2,
      activeDeadlineSeconds: 30,
      nodeSelector: nodeSelectorFromLabels(["gpu", "k8s:nvidia.com/gpu.present=true"]),
      template: {
        metadata: { labels: { team: "data", "io.weftflow/run": "forged" } },
        spec: {
          backoffLimit: 6,
          template: {
            spec: {
              restartPolicy: "OnFailure",
              priorityClassName: "low",
              containers: [
                { name: "flow", image: "forged", env: [{ name: "C", value: "3" }] },
                { name: "sidecar", image: "busybox" },
              ],
            },
          },
        },
      },
    });
    assert.equal(job.metadata?.labels?.team, "data");
    assert.equal(job.metadata?.labels?.["io.weftflow/run"], "run-1");
    assert.equal(job.metadata?.labels?.["io.weftflow/owner"], "agent-one");
    assert.equal(job.spec?.backoffLimit, 0);
    assert.equal(job.spec?.activeDeadlineSeconds, 30);
    const pod = job.spec?.template.spec;
    assert.equal(pod?.restartPolicy, "Never");
    assert.equal(pod?.priorityClassName, "low");
    assert.deepEqual(pod?.nodeSelector, { "nvidia.com/gpu.present": "true" });
    assert.deepEqual(
      pod?.containers.map((c) => [c.name, c.image]),
      [
        ["flow", "registry.example/flows@sha256:" + "b".repeat(64)],
        ["sidecar", "busybox"],
      ],
    );
    assert.deepEqual(pod?.containers[0]?.env, [
      { name: "C", value: "3" },
      { name: "A", value: "1" },
      { name: "B", valueFrom: { secretKeyRef: { name: "s", key: "k" } } },
    ]);
  });

  test("JSON round trip keeps every setting", () => {
    const env = createKubernetesEnvironment({
      namespace: "flows",
      image: "127.0.0.1:5000/weft/runtime@sha256:" + "a".repeat(64),
      pullPolicy: "always",
      serviceAccountName: "weft-runs",
      memoryMb: 256,
      cpus: 0.5,
      resources: { requests: { cpu: "100m" } },
      nodeSelector: { disk: "ssd" },
      tolerations: [{ key: "gpu", operator: "Exists", effect: "NoSchedule" }],
      env: { API_KEY: "env:API_KEY", DB_PASSWORD: "secret:db/password" },
      imagePullSecrets: ["regcred"],
      runAsUser: 1000,
      jobTemplate: { spec: { template: { spec: { priorityClassName: "low" } } } },
      timeoutMs: 60_000,
      killGraceMs: 2000,
      labels: ["k8s", "k8s:disk=ssd"],
    });
    const json = env.toJSON();
    assert.equal(json.type, "kubernetes");
    const again = environmentFromJSON(JSON.parse(JSON.stringify(json)));
    assert.deepEqual(again.toJSON(), json);
    assert.equal(kubernetesEnvironmentKind.capabilities?.storageNeeds, "shareable");
  });

  test("a literal variable, a malformed Secret reference or namespace is refused, naming it", async () => {
    const literal = await expectCode(
      () => createKubernetesEnvironment({ env: { TOKEN: "hunter2" } }),
      "CREDENTIAL_IN_CONFIG",
      "a literal",
    );
    assert.match(literal.message, /TOKEN/);
    const malformed = await expectCode(
      () => createKubernetesEnvironment({ env: { DB: "secret:Bad_Name/key" } }),
      "CREDENTIAL_IN_CONFIG",
      "a malformed Secret reference",
    );
    assert.match(malformed.message, /\bDB\b/);
    const namespace = await expectCode(
      () => createKubernetesEnvironment({ namespace: "Not A Namespace" }),
      "INVALID_FLOW_OPTIONS",
      "a bad namespace",
    );
    assert.match(namespace.message, /namespace/);
  });
});

/** A bundle server on loopback: PUT stores, GET returns (what http storage needs). */
function startArtifactServer(): Promise<{ url: string; server: Server }> {
  const objects = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      if (req.method === "PUT") {
        objects.set(path, Buffer.concat(chunks));
        return void res.writeHead(201).end();
      }
      const body = objects.get(path);
      if (body === undefined) return void res.writeHead(404).end();
      res.writeHead(200).end(body);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({ url: `http://127.0.0.1:${port}/flows`, server });
    }),
  );
}

const OWNER = `k8senv-test-${process.pid}`;
const TEST_TIMEOUT_MS = 120_000;
/** The Pod shares the node's network, where the artifact server listens on 127.0.0.1. */
const HOST_NETWORK = { spec: { template: { spec: { hostNetwork: true } } } };

describe("kubernetes environment", { skip: noKubernetes || noRegistry, concurrency: 6 }, () => {
  let artifacts: { url: string; server: Server };
  let cacheDir: string;
  let image: string;
  let namespace: string;
  let client: KubeClient;
  let host: EnvironmentHost;

  before(async () => {
    namespace = createTestNamespace("k8senv");
    host = { owner: OWNER, kubernetes: { kubeconfig: testKubeconfig, namespace } };
    artifacts = await startArtifactServer();
    cacheDir = mkdtempSync(join(tmpdir(), "weft-k8senv-cache-"));
    client = await KubeClient.load({ kubeconfig: testKubeconfig });
    // weft's runtime image from this checkout, pushed to the loopback registry the cluster
    // pulls from, and named by digest.
    const engine = new ContainerEngine(containerHost);
    const local = await testRuntimeImage(engine);
    const repo = `${testRegistry}/k8senv-test/runtime`;
    const tag = local.slice(local.lastIndexOf(":") + 1);
    await engine.docker.getImage(local).tag({ repo, tag });
    const digest = await engine.push(`${repo}:${tag}`);
    assert.ok(digest, "the registry named the pushed image");
    image = `${repo}@${digest}`;
  });

  after(async () => {
    artifacts?.server.closeAllConnections();
    artifacts?.server.close();
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
    if (namespace === undefined) return;
    // Nothing of this file may be left on the cluster.
    const left = await client.listJobs(`${KUBE_OWNER_LABEL}=${OWNER}`, namespace);
    deleteTestNamespace(namespace);
    assert.deepEqual(
      left.map((j) => j.metadata?.name),
      [],
      "Jobs left behind",
    );
  });

  async function storageWith(flow: Flow<unknown>): Promise<{ storage: Storage; location: string }> {
    const storage = createHttpStorage({ url: artifacts.url, cacheDir });
    const location = storage.addFlow(flow);
    await storage.build();
    return { storage, location };
  }

  function env(options: KubernetesEnvironmentOptions = {}) {
    return createKubernetesEnvironment({ image, jobTemplate: HOST_NETWORK, ...options });
  }

  async function run(
    flow: Flow<unknown>,
    options: KubernetesEnvironmentOptions = {},
    ctx: Partial<ExecuteContext> = {},
    onStarted?: (reporter: RecordingReporter, runId: string) => void,
  ) {
    const { storage, location } = await storageWith(flow);
    const environment = env(options);
    await environment.setup(storage, host);
    const reporter = new RecordingReporter();
    const flowRunId = randomUUID();
    onStarted?.(reporter, flowRunId);
    const result = await environment.execute(storage, location, {
      flowRunId,
      reporter,
      ...ctx,
    });
    const jobs = await client.listJobs(`${KUBE_RUN_LABEL}=${flowRunId}`, namespace);
    assert.deepEqual(
      jobs.map((j) => j.metadata?.name),
      [],
      "the run's Job is deleted",
    );
    return { result, reporter, flowRunId };
  }

  /** Resolves once `reporter` heard `slug` Running. */
  function whenRunning(reporter: RecordingReporter, slug: string): Promise<void> {
    return new Promise((resolve) => {
      const timer = setInterval(() => {
        if (reporter.taskTypes(slug).includes("Running")) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
  }

  /** The run's Pods, until none is left (a Job's Pods go after the Job, when the kubelet, slow under load, confirms them stopped). */
  async function podsGone(runId: string): Promise<void> {
    for (let i = 0; i < 900; i++) {
      const pods = await client.listPods(namespace, `${KUBE_RUN_LABEL}=${runId}`);
      if (pods.length === 0) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.fail(`the Pods of run ${runId} are still there`);
  }

  test("runs the flow as a Job, with task states and logs streamed back from the Pod", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    let seen: KubeJob | undefined;
    const { result, reporter, flowRunId } = await run(
      whereFlow,
      { memoryMb: 256, cpus: 0.5, nodeSelector: { "kubernetes.io/os": "linux" } },
      { parameters: { name: "k8s" } },
      (r, runId) =>
        void whenRunning(r, "where-1").then(async () => {
          [seen] = await client.listJobs(`${KUBE_RUN_LABEL}=${runId}`, namespace);
        }),
    );
    assert.equal(result.state.type, "Success", result.state.message);
    assert.equal(result.crashed, undefined);
    assert.deepEqual(reporter.taskTypes("where-1"), ["Running", "Success"]);
    assert.deepEqual(reporter.taskTypes("shout-1"), ["Running", "Success"]);
    const messages = reporter.logs().map((r) => r.message);
    assert.ok(
      messages.some((m) => m.startsWith("inside hostname=")),
      `the task's log came back: ${messages.join(" | ")}`,
    );
    assert.ok(messages.includes("partial output of k8s"), "output before an event is output");
    assert.ok(messages.includes("after the partial line"), "the event after it is an event");
    assert.ok(messages.includes("stdout says hello to k8s"));
    assert.ok(messages.includes("stderr says hello to k8s"), "stderr is in the Pod's log too");
    assert.equal(reporter.flowTypes().filter((t) => t === "Success").length, 1);
    // The Job as weft made it.
    assert.ok(seen, "the Job was there while the run ran");
    assert.equal(seen.spec?.backoffLimit, 0);
    assert.equal(seen.metadata?.labels?.[KUBE_RUN_LABEL], flowRunId);
    assert.equal(seen.metadata?.labels?.[KUBE_OWNER_LABEL], OWNER);
    const pod = seen.spec?.template;
    assert.equal(pod?.metadata?.labels?.[KUBE_OWNER_LABEL], OWNER);
    assert.equal(pod?.spec?.restartPolicy, "Never");
    assert.equal(pod?.spec?.hostNetwork, true, "the template's field is kept");
    const container = pod?.spec?.containers[0];
    assert.equal(container?.image, image);
    assert.deepEqual(container?.resources?.limits, { memory: "256Mi", cpu: "500m" });
    assert.deepEqual(pod?.spec?.nodeSelector, { "kubernetes.io/os": "linux" });
    await podsGone(flowRunId);
  });

  test("variables: env:NAME read on the agent, secret:NAME/KEY read by the kubelet from the Secret", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    kubectl([
      "-n",
      namespace,
      "create",
      "secret",
      "generic",
      "k8senv-db",
      "--from-literal=password=s3cr3t-value",
    ]);
    process.env.K8SENV_TEST_VALUE = "from the agent";
    const { result, reporter } = await run(
      envFlow,
      {
        env: {
          K8SENV_TEST_VALUE: "env:K8SENV_TEST_VALUE",
          K8SENV_UNSET: "env:K8SENV_NOT_SET_ANYWHERE",
          DB_PASSWORD: "secret:k8senv-db/password",
        },
      },
      { parameters: { names: "K8SENV_TEST_VALUE,K8SENV_UNSET,DB_PASSWORD,WEFT_HOME" } },
    );
    assert.equal(result.state.type, "Success", result.state.message);
    const messages = reporter.logs().map((r) => r.message);
    assert.ok(messages.includes("K8SENV_TEST_VALUE=from the agent"), messages.join(" | "));
    assert.ok(messages.includes("K8SENV_UNSET=(unset)"), "an unset reference leaves it out");
    assert.ok(messages.includes("DB_PASSWORD=s3cr3t-value"), "the Secret's key reached the Pod");
    assert.ok(messages.includes("WEFT_HOME=/tmp/weft-home"));
  });

  test("a process that exits 3 ends Failed with its exit code", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const { result } = await run(exitFlow, {}, { parameters: { code: 3 } });
    assert.equal(result.state.type, "Failed", result.state.message);
    assert.match(result.state.message ?? "", /exited with code 3/);
    assert.equal(result.crashed, undefined, "an exit is the flow's, not a crash");
  });

  test("a Pod over its memory limit is OOMKilled: Failed, crashed", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const { result } = await run(hogFlow, { memoryMb: 96 });
    assert.equal(result.state.type, "Failed", result.state.message);
    assert.match(result.state.message ?? "", /out of memory \(limit 96 MiB\): OOMKilled/);
    assert.equal(result.crashed, true);
  });

  test("the Job's active deadline ends the run: TimedOut", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const { result } = await run(napFlow, { timeoutMs: 4000 }, { parameters: { ms: 60_000 } });
    assert.equal(result.state.type, "TimedOut", result.state.message);
    assert.match(result.state.message ?? "", /active deadline/);
  });

  test("a cancel deletes the Job and its Pod: Cancelled", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const controller = new AbortController();
    const { result, flowRunId } = await run(
      napFlow,
      { killGraceMs: 10_000 },
      { signal: controller.signal, parameters: { ms: 60_000 } },
      (reporter) => void whenRunning(reporter, "nap-1").then(() => controller.abort()),
    );
    assert.equal(result.state.type, "Cancelled", result.state.message);
    assert.equal(result.crashed, undefined);
    // Deleted means marked for deletion: the Job's foreground deletion marks its Pod through
    // the garbage collector, which may come just after the run has answered.
    const live = async () =>
      (await client.listPods(namespace, `${KUBE_RUN_LABEL}=${flowRunId}`))
        .filter((p) => p.metadata?.deletionTimestamp === undefined)
        .map((p) => p.metadata?.name);
    await waitUntil("the Pod to go with the cancel", async () =>
      (await live()).length === 0 ? true : undefined,
    );
  });

  test("a Pod deleted from outside ends the run crashed (for run health)", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const { result, flowRunId } = await run(
      napFlow,
      { killGraceMs: 2000 },
      { parameters: { ms: 60_000 } },
      (reporter, runId) =>
        void whenRunning(reporter, "nap-1").then(async () => {
          const [pod] = await client.listPods(namespace, `${KUBE_RUN_LABEL}=${runId}`);
          await client.deletePod(namespace, pod!.metadata!.name!);
        }),
    );
    assert.equal(result.state.type, "Failed", result.state.message);
    assert.match(result.state.message ?? "", /deleted while it ran \(from outside weft\)/);
    assert.equal(result.crashed, true);
    await podsGone(flowRunId);
  });

  test("reaping deletes the Jobs of this owner, and only those", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const job = (owner: string, runId: string) =>
      buildJob({
        name: jobName(runId),
        runId,
        owner,
        image,
        command: ["node", "-e", "setTimeout(() => {}, 600000)"],
        env: {},
        secretEnv: {},
        imagePullPolicy: "IfNotPresent",
        terminationGracePeriodSeconds: 0,
      });
    // Owners of their own: the other tests' Jobs (OWNER's) run at the same time.
    const owner = `${OWNER}-reap`;
    const other = `${OWNER}-other`;
    const ours = randomUUID();
    const theirs = randomUUID();
    await client.createJob(namespace, job(owner, ours));
    await client.createJob(namespace, job(other, theirs));
    try {
      const removed = await kubernetesEnvironmentKind.reap!({ ...host, owner });
      assert.equal(removed, 1);
      assert.deepEqual(await client.listJobs(`${KUBE_RUN_LABEL}=${ours}`, namespace), []);
      assert.equal((await client.listJobs(`${KUBE_RUN_LABEL}=${theirs}`, namespace)).length, 1);
      // A host without Kubernetes settings reaps nothing (and does not look for a cluster).
      assert.equal(await kubernetesEnvironmentKind.reap!({ owner: other }), 0);
    } finally {
      await client.deleteJob(namespace, jobName(theirs), { gracePeriodSeconds: 0 });
    }
  });

  describe("bad input: one line naming the thing, nothing left running", () => {
    test("an unreachable cluster", async () => {
      const dir = mkdtempSync(join(tmpdir(), "weft-k8senv-kc-"));
      try {
        const config = JSON.parse(
          kubectl(["config", "view", "--raw", "--minify", "-o", "json"]),
        ) as { clusters: { cluster: { server: string } }[] };
        config.clusters[0]!.cluster.server = "https://127.0.0.1:1";
        const file = join(dir, "kubeconfig");
        writeFileSync(file, JSON.stringify(config));
        const { storage } = await storageWith(whereFlow);
        const error = await expectCode(
          () => env().setup(storage, { owner: OWNER, kubernetes: { kubeconfig: file } }),
          "KUBERNETES_UNREACHABLE",
          "an unreachable cluster",
        );
        assert.match(error.message, /https:\/\/127\.0\.0\.1:1 does not answer/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test("a namespace that does not exist", async () => {
      const { storage } = await storageWith(whereFlow);
      const error = await expectCode(
        () => env({ namespace: "weft-no-such-namespace" }).setup(storage, host),
        "KUBERNETES_NAMESPACE_NOT_FOUND",
        "a missing namespace",
      );
      assert.match(error.message, /namespace weft-no-such-namespace does not exist/);
    });

    test("credentials without the Jobs permission (RBAC)", async () => {
      const account = "weft-no-jobs";
      kubectl(["-n", namespace, "create", "serviceaccount", account]);
      // Pods yes, Jobs no.
      kubectl([
        "-n",
        namespace,
        "create",
        "role",
        "pods-only",
        "--verb=get,list,watch",
        "--resource=pods,pods/log",
      ]);
      kubectl([
        "-n",
        namespace,
        "create",
        "rolebinding",
        "pods-only",
        "--role=pods-only",
        `--serviceaccount=${namespace}:${account}`,
      ]);
      const file = await serviceAccountKubeconfig(account);
      try {
        const { storage } = await storageWith(whereFlow);
        const error = await expectCode(
          () => env().setup(storage, { owner: OWNER, kubernetes: { kubeconfig: file, namespace } }),
          "KUBERNETES_FORBIDDEN",
          "no Jobs permission",
        );
        assert.match(error.message, /may not create jobs, get jobs, delete jobs in namespace/);
        assert.doesNotMatch(error.message, /pods/, "the granted verbs are not listed");
      } finally {
        rmSync(dirname(file), { recursive: true, force: true });
      }
    });

    test("an image the cluster cannot pull", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { result } = await run(whereFlow, {
        image: `${testRegistry}/k8senv-test/no-such-image:1`,
        startTimeoutMs: 3000,
      });
      assert.equal(result.state.type, "Failed", result.state.message);
      assert.match(
        result.state.message ?? "",
        /image 127\.0\.0\.1:\d+\/k8senv-test\/no-such-image:1 could not be pulled/,
      );
      assert.equal(result.crashed, undefined);
    });

    test("a Secret that does not exist", { timeout: TEST_TIMEOUT_MS }, async () => {
      const { result } = await run(whereFlow, {
        env: { DB_PASSWORD: "secret:no-such-secret/password" },
      });
      assert.equal(result.state.type, "Failed", result.state.message);
      assert.match(result.state.message ?? "", /secret "no-such-secret" not found/);
      assert.match(
        result.state.message ?? "",
        /DB_PASSWORD refers to secret:no-such-secret\/password/,
      );
    });

    test("storage the cluster cannot load from", async () => {
      const dir = mkdtempSync(join(tmpdir(), "weft-k8senv-local-"));
      try {
        const local = createLocalStorage({ directory: dir });
        local.addFlow(whereFlow);
        await local.build();
        const refusal = await expectCode(
          () => env().setup(local, host),
          "STORAGE_NOT_SHAREABLE",
          "local storage",
        );
        assert.match(refusal.message, /cannot load from local storage/);
        const unpushed = createContainerStorage({
          image: "localhost/weft-flows:0123456789ab",
          flows: { "ctr-where": formatLocation("flows.mjs", "ctr-where") },
        });
        const error = await expectCode(
          () => createKubernetesEnvironment({}).setup(unpushed, host),
          "STORAGE_NOT_SHAREABLE",
          "an unpushed image",
        );
        assert.match(error.message, /localhost\/weft-flows:0123456789ab/);
        assert.match(error.hint ?? "", /registry option/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  /** A kubeconfig of the test cluster with the token of a ServiceAccount of the namespace. */
  async function serviceAccountKubeconfig(account: string): Promise<string> {
    let token = "";
    for (let i = 0; i < 100 && token === ""; i++) {
      const secret = kubectl([
        "-n",
        namespace,
        "get",
        "serviceaccount",
        account,
        "-o",
        "jsonpath={.secrets[0].name}",
      ]);
      if (secret !== "") {
        const data = kubectl([
          "-n",
          namespace,
          "get",
          "secret",
          secret,
          "-o",
          "jsonpath={.data.token}",
        ]);
        token = Buffer.from(data, "base64").toString("utf8");
      }
      if (token === "") await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(token, `a token for service account ${account}`);
    const config = JSON.parse(kubectl(["config", "view", "--raw", "--minify", "-o", "json"])) as {
      users: { user: Record<string, unknown> }[];
    };
    config.users[0]!.user = { token };
    const dir = mkdtempSync(join(tmpdir(), "weft-k8senv-sa-"));
    const file = join(dir, "kubeconfig");
    writeFileSync(file, JSON.stringify(config));
    return file;
  }
});
