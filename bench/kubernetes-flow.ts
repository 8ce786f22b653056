// The flow of the Kubernetes benchmark (bench/kubernetes.ts): one trivial task.
import { flow, task } from "weftflow";

const one = task("one", () => 1);

/** Run as a Job, one task. */
export const benchKubernetes = flow("kubernetes-bench-run", () => one());
