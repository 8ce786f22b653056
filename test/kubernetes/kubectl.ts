// kubectl against the test cluster (WEFT_TEST_KUBECONFIG), for tests that set up or inspect it as
// an operator would.
import { spawnSync } from "node:child_process";

export const kubeconfig = process.env.WEFT_TEST_KUBECONFIG;
export const noKubernetes: string | false =
  kubeconfig === undefined || kubeconfig === ""
    ? "no Kubernetes cluster: set WEFT_TEST_KUBECONFIG (.ci/run starts one)"
    : false;

/** Runs kubectl with the test kubeconfig and `input` on stdin; throws with its stderr on failure. */
export function kubectl(args: readonly string[], input?: string): string {
  const r = spawnSync(
    process.env.WEFT_TEST_KUBECTL ?? "kubectl",
    ["--kubeconfig", kubeconfig ?? "", ...args],
    { encoding: "utf8", ...(input === undefined ? {} : { input }) },
  );
  if (r.status !== 0) throw new Error(`kubectl ${args.join(" ")}: ${r.stderr || r.error?.message}`);
  return r.stdout;
}
