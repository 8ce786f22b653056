// How a Kubernetes agent (`weft agent start --kubernetes`) deploys a run whatever environment its
// flow was registered with: the run's environment JSON is rewritten into a `kubernetes`
// environment's before the agent builds it, keeping what the flow said about how it runs and
// filling what it did not from the agent's defaults.
//
// The cluster's credentials, the default namespace and the default image are the host's
// (`EnvironmentHost.kubernetes`, from the agent's flags), which the kubernetes environment reads
// at setup: the flow's namespace and image win, the agent's fill in. Here only the kind changes,
// with the agent's --cpus/--memory-mb where the flow set no limit.
//
// The mapping, kind by kind:
// - kubernetes: kept (defaults fill cpus and memoryMb where it has neither).
// - container: the same image (else the storage's, else the agent's), memoryMb, cpus, env,
//   pullPolicy, executor, timeoutMs, killGraceMs, labels. `network` has no meaning in a Pod and
//   is dropped, as are `containerLabels` and a `user` name (a Pod takes a numeric uid only; a
//   numeric `user` becomes runAsUser); host `mounts` cannot follow it and are refused.
// - subprocess, local: the storage's image or the agent's (weft's runtime image), with their
//   executor, env, timeoutMs and killGraceMs; the code is fetched in the Pod, so the storage
//   must be remote (the environment refuses local storage at setup, naming it). `heapLimitMb`
//   and `cwd` of a subprocess have no Pod equivalent and are dropped.
// - distributed (and any other kind): refused; its walk runs in the agent's process beside
//   Redis workers, and a Job of it would be a second orchestrator.
import { WeftError } from "../core/errors.ts";
import type { TypedObject } from "../serialization/schemas.ts";

type EnvironmentJson = TypedObject;

/** The limits a Kubernetes agent gives runs whose environment sets none. */
export interface KubernetesDefaults {
  /** The flow container's CPU limit. @default none */
  readonly cpus?: number;
  /** The flow container's memory request and limit in MiB. @default none */
  readonly memoryMb?: number;
}

const KEEP_FROM_CONTAINER = [
  "image",
  "memoryMb",
  "cpus",
  "env",
  "pullPolicy",
  "executor",
  "timeoutMs",
  "killGraceMs",
] as const;
const KEEP_FROM_PROCESS = ["executor", "env", "timeoutMs", "killGraceMs"] as const;

function pick(from: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (from[key] !== undefined) out[key] = from[key];
  return out;
}

/**
 * The `kubernetes` environment a Kubernetes agent runs `environment` as (undefined: the flow
 * named none, i.e. local).
 */
export function asKubernetesEnvironment(
  environment: EnvironmentJson | undefined,
  defaults: KubernetesDefaults,
): EnvironmentJson {
  const from: EnvironmentJson = environment ?? { type: "local", schemaVersion: 1, labels: [] };
  let mapped: Record<string, unknown>;
  switch (from.type) {
    case "kubernetes":
      mapped = { ...from };
      break;
    case "container": {
      const mounts = from.mounts as unknown[] | undefined;
      if (mounts !== undefined && mounts.length > 0) {
        throw new WeftError(
          "KUBERNETES_ENVIRONMENT_UNSUPPORTED",
          `a container environment with host mounts cannot run as a Kubernetes Job: ${mounts.length} mount(s) of the agent's host`,
          {
            hint: "register the flow with a kubernetes environment (volumes of the cluster), or run it on a container agent",
          },
        );
      }
      mapped = pick(from, KEEP_FROM_CONTAINER);
      if (typeof from.user === "string" && /^[0-9]+$/.test(from.user))
        mapped.runAsUser = Number(from.user);
      break;
    }
    case "local":
    case "subprocess":
      mapped = pick(from, KEEP_FROM_PROCESS);
      break;
    default:
      throw new WeftError(
        "KUBERNETES_ENVIRONMENT_UNSUPPORTED",
        `a ${from.type} environment cannot run as a Kubernetes Job (this agent runs every run as one)`,
        {
          hint: "run flows of this environment on an agent started without --kubernetes (give them a label only that agent carries)",
        },
      );
  }
  const out: Record<string, unknown> = {
    ...mapped,
    type: "kubernetes",
    schemaVersion: 1,
    labels: Array.isArray(from.labels) ? from.labels : [],
  };
  if (out.cpus === undefined && defaults.cpus !== undefined) out.cpus = defaults.cpus;
  if (out.memoryMb === undefined && defaults.memoryMb !== undefined)
    out.memoryMb = defaults.memoryMb;
  return out as EnvironmentJson;
}
