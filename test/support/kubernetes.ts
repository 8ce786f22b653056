// The Kubernetes cluster the Kubernetes tests use: WEFT_TEST_KUBECONFIG, an admin kubeconfig of
// a real cluster (.ci/run sets it from .ci/kubernetes.sh, which starts the single-node cluster
// of ../shared/reference/kubernetes.md or uses the one running). Without it the tests skip,
// saying so. Images reach the cluster through WEFT_TEST_REGISTRY (its containerd pulls from
// registries on 127.0.0.1 over plain HTTP).
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";

export const testKubeconfig = process.env.WEFT_TEST_KUBECONFIG;

/** A skip reason for `describe(..., { skip })`, or false when a cluster is configured. */
export const noKubernetes = testKubeconfig
  ? false
  : "WEFT_TEST_KUBECONFIG not set (bash .ci/kubernetes.sh start DIR starts a cluster and prints it)";

/** kubectl: WEFT_TEST_KUBECTL, else the one beside the reference cluster's kubeconfig, else PATH's. */
export function kubectlPath(): string {
  if (process.env.WEFT_TEST_KUBECTL) return process.env.WEFT_TEST_KUBECTL;
  if (testKubeconfig) {
    const beside = join(dirname(dirname(testKubeconfig)), "bin", "kubectl");
    if (spawnSync(beside, ["version", "--client"], { stdio: "ignore" }).status === 0) return beside;
  }
  return "kubectl";
}

/** Runs kubectl against the test cluster; throws with its stderr when it fails. */
export function kubectl(args: readonly string[], input?: string): string {
  const result = spawnSync(kubectlPath(), ["--kubeconfig", testKubeconfig ?? "", ...args], {
    encoding: "utf8",
    ...(input === undefined ? {} : { input }),
  });
  if (result.status !== 0) {
    throw new Error(`kubectl ${args.join(" ")} failed: ${result.stderr || result.error?.message}`);
  }
  return result.stdout;
}

/** A namespace of its own for a test file (`weft-<name>-<pid>`), created now; delete it after. */
export function createTestNamespace(name: string): string {
  const namespace = `weft-${name}-${process.pid}`.toLowerCase().slice(0, 63);
  kubectl(["create", "namespace", namespace]);
  // The namespace's default service account appears a moment after it; Pods need it.
  for (let i = 0; i < 100; i++) {
    const r = spawnSync(
      kubectlPath(),
      ["--kubeconfig", testKubeconfig ?? "", "-n", namespace, "get", "serviceaccount", "default"],
      { stdio: "ignore" },
    );
    if (r.status === 0) return namespace;
    spawnSync("sleep", ["0.1"]);
  }
  throw new Error(`namespace ${namespace} has no default service account`);
}

/** Deletes a test namespace and whatever is in it (without waiting for it to go). */
export function deleteTestNamespace(namespace: string): void {
  spawnSync(
    kubectlPath(),
    ["--kubeconfig", testKubeconfig ?? "", "delete", "namespace", namespace, "--wait=false"],
    { stdio: "ignore" },
  );
}
