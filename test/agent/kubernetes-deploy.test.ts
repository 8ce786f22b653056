// How a Kubernetes agent runs a flow's environment as a Job: what it keeps of each kind, what
// its defaults fill in, what it refuses (naming why). The result is checked by the kubernetes
// environment's own schema, as the agent builds it.
import assert from "node:assert/strict";
import { test } from "node:test";
import { asKubernetesEnvironment } from "../../src/agent/kubernetes-deploy.ts";
import { kubernetesEnvironmentSchema } from "../../src/environments/kubernetes/kubernetes-options.ts";
import { environmentFromJSON } from "../../src/environments/registry.ts";
import { expectCode } from "../support/expect-code.ts";

const mapped = (env: Parameters<typeof asKubernetesEnvironment>[0], defaults = {}) => {
  const out = asKubernetesEnvironment(env, defaults);
  kubernetesEnvironmentSchema.parse(out);
  assert.equal(environmentFromJSON(out).type, "kubernetes");
  return out;
};

test("no environment (local) and local: the kind changes, labels and executor stay, limits from the agent", () => {
  assert.deepEqual(mapped(undefined, { cpus: 0.5, memoryMb: 256 }), {
    type: "kubernetes",
    schemaVersion: 1,
    labels: [],
    cpus: 0.5,
    memoryMb: 256,
  });
  assert.deepEqual(
    mapped({ type: "local", schemaVersion: 1, labels: ["etl"], executor: { type: "serial" } }),
    { type: "kubernetes", schemaVersion: 1, labels: ["etl"], executor: { type: "serial" } },
  );
});

test("subprocess: executor, env, timeout and kill grace stay; heap limit and cwd have no Pod meaning", () => {
  assert.deepEqual(
    mapped({
      type: "subprocess",
      schemaVersion: 1,
      labels: [],
      env: { TOKEN: "env:TOKEN" },
      timeoutMs: 60_000,
      killGraceMs: 1000,
      heapLimitMb: 512,
      cwd: "/srv/etl",
    }),
    {
      type: "kubernetes",
      schemaVersion: 1,
      labels: [],
      env: { TOKEN: "env:TOKEN" },
      timeoutMs: 60_000,
      killGraceMs: 1000,
    },
  );
});

test("container: image and limits stay (the flow's win over the agent's), network goes, a uid becomes runAsUser", () => {
  assert.deepEqual(
    mapped(
      {
        type: "container",
        schemaVersion: 1,
        labels: ["gpu"],
        image: "registry.internal/etl@sha256:abc",
        memoryMb: 512,
        pullPolicy: "always",
        network: "none",
        user: "1000",
        timeoutMs: 5000,
      },
      { cpus: 2, memoryMb: 128 },
    ),
    {
      type: "kubernetes",
      schemaVersion: 1,
      labels: ["gpu"],
      image: "registry.internal/etl@sha256:abc",
      memoryMb: 512,
      cpus: 2,
      pullPolicy: "always",
      runAsUser: 1000,
      timeoutMs: 5000,
    },
  );
});

test("kubernetes: kept as registered", () => {
  const env = {
    type: "kubernetes",
    schemaVersion: 1,
    labels: ["k8s:disk=ssd"],
    namespace: "flows",
    cpus: 1,
    nodeSelector: { zone: "a" },
  };
  assert.deepEqual(mapped(env, { cpus: 4, memoryMb: 64 }), { ...env, memoryMb: 64 });
});

test("refused, naming why: host mounts of a container environment, a distributed environment", async () => {
  const mounts = await expectCode(
    () =>
      asKubernetesEnvironment(
        {
          type: "container",
          schemaVersion: 1,
          labels: [],
          mounts: [{ source: "/data", target: "/data" }],
        },
        {},
      ),
    "KUBERNETES_ENVIRONMENT_UNSUPPORTED",
    "mounts",
  );
  assert.match(mounts.message, /host mounts/);
  const distributed = await expectCode(
    () =>
      asKubernetesEnvironment(
        { type: "distributed", schemaVersion: 1, labels: [], redis: "env:R", queue: "q" },
        {},
      ),
    "KUBERNETES_ENVIRONMENT_UNSUPPORTED",
    "distributed",
  );
  assert.match(distributed.message, /a distributed environment cannot run as a Kubernetes Job/);
});
