// The kubernetes environment against a real cluster (the single-node Kubernetes 1.20 of
// .ci/kubernetes.sh; WEFT_TEST_KUBECONFIG): runs as Jobs of weft's runtime image pushed to the
// loopback registry, fetching their bundle from an http artifact server on loopback (the Pod
// on host networking), events and logs back from the Pod's log stream; exit codes, out of
// memory, the deadline, cancel, a Pod deleted from outside, reaping; bad input refused in one
// line. Every test works in this file's own namespace, deleted at the end; no Job may be left.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, test } from "node:test";
import {
  createKubernetesEnvironment,
  kubernetesEnvironmentKind,
} from "../../src/environments/kubernetes/kubernetes-environment.ts";
import { environmentFromJSON } from "../../src/environments/registry.ts";
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
