// The Job of one flow run, as the `kubernetes` environment creates it: the user's Job template
// (if any) underneath, weft's fields on top (they win), so that a template can add volumes,
// sidecars, annotations or a priority class but cannot change what weft relies on: one Pod
// (`parallelism` and `completions` 1), no retry by Kubernetes (`backoffLimit: 0`, weft's run
// health decides about another attempt), `restartPolicy: Never`, the run and owner labels on
// the Job and its Pod, and the `flow` container's image, command and variables.
import type { KubeJob } from "../../kubernetes/kube-client.ts";
import { KUBE_OWNER_LABEL, KUBE_RUN_LABEL } from "../../kubernetes/kube-client.ts";
import { isKubernetesSecretReference } from "../../serialization/credentials.ts";
import type { KubeToleration } from "./kubernetes-options.ts";

/** The name of the container that runs the flow (the one whose log carries the events). */
export const FLOW_CONTAINER = "flow";

/** How long a finished Job stays where the cluster deletes finished Jobs (a backstop). */
const TTL_AFTER_FINISHED_SECONDS = 3600;

/** What the Job of one run is made of (all decided by the environment). */
export interface JobSpecInput {
  readonly name: string;
  readonly runId: string;
  readonly owner: string;
  readonly image: string;
  readonly command: readonly string[];
  /** Literal variables (the run's, the storage's, resolved `env:NAME` references). */
  readonly env: Readonly<Record<string, string>>;
  /** `secret:NAME/KEY` references, by variable name. */
  readonly secretEnv: Readonly<Record<string, string>>;
  readonly imagePullPolicy: "Always" | "IfNotPresent" | "Never";
  readonly resources?: {
    requests?: Record<string, string>;
    limits?: Record<string, string>;
  };
  readonly nodeSelector?: Readonly<Record<string, string>>;
  readonly tolerations?: readonly KubeToleration[];
  readonly serviceAccountName?: string;
  readonly imagePullSecrets?: readonly string[];
  readonly runAsUser?: number;
  readonly activeDeadlineSeconds?: number;
  readonly terminationGracePeriodSeconds: number;
  /** The user's template (a Job manifest, partial), merged underneath. */
  readonly template?: Readonly<Record<string, unknown>>;
}

/** A Job name for a run: `weft-` + the run id's first characters, DNS-1123, unique per run. */
export function jobName(runId: string): string {
  const cleaned = runId
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, "-")
    .replace(/^-+|-+$/g, "");
  // Job names become a label value of the Pods (controller-uid, job-name): 63 characters at most.
  return `weft-${cleaned}`.slice(0, 63).replace(/-+$/, "");
}

/** The `io.weftflow/run` label value of a run (label values: 63 characters, alphanumeric ends). */
export function runLabelValue(runId: string): string {
  return runId
    .replace(/[^A-Za-z0-9._-]/g, "-")
    .slice(0, 63)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "");
}

/** The `io.weftflow/owner` label value of an owner (an agent's name). */
export function ownerLabelValue(owner: string): string {
  return runLabelValue(owner) || "weft";
}

/** The Job manifest: the template underneath, weft's fields on top. */
export function buildJob(input: JobSpecInput): KubeJob {
  const t = (input.template ?? {}) as {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
    spec?: {
      template?: {
        metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
        spec?: Record<string, unknown> & { containers?: Record<string, unknown>[] };
      } & Record<string, unknown>;
    } & Record<string, unknown>;
  };
  const labels = {
    [KUBE_RUN_LABEL]: runLabelValue(input.runId),
    [KUBE_OWNER_LABEL]: ownerLabelValue(input.owner),
  };
  const annotations = { "io.weftflow/run-id": input.runId, "io.weftflow/owner": input.owner };
  const podSpec = t.spec?.template?.spec ?? {};
  const others = (podSpec.containers ?? []).filter((c) => c.name !== FLOW_CONTAINER);
  const theirs = (podSpec.containers ?? []).find((c) => c.name === FLOW_CONTAINER) ?? {};
  const env = [
    ...Object.entries(input.env).map(([name, value]) => ({ name, value })),
    ...Object.entries(input.secretEnv).map(([name, reference]) => {
      const [secret, key] = secretParts(reference);
      return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
    }),
  ];
  const flow = {
    ...theirs,
    name: FLOW_CONTAINER,
    image: input.image,
    command: [...input.command],
    args: [],
    env: [...((theirs.env as unknown[] | undefined) ?? []), ...env],
    imagePullPolicy: input.imagePullPolicy,
    ...(input.resources === undefined ? {} : { resources: input.resources }),
    ...(input.runAsUser === undefined
      ? {}
      : {
          securityContext: {
            ...(theirs.securityContext as object | undefined),
            runAsUser: input.runAsUser,
          },
        }),
  };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      ...(t.metadata ?? {}),
      name: input.name,
      labels: { ...t.metadata?.labels, ...labels },
      annotations: { ...t.metadata?.annotations, ...annotations },
    },
    spec: {
      ...(t.spec ?? {}),
      parallelism: 1,
      completions: 1,
      backoffLimit: 0,
      // A backstop where the cluster has it (1.20 drops the field): weft deletes its Jobs itself,
      // but a finished Job of an agent that died and never came back goes after an hour.
      ttlSecondsAfterFinished:
        (t.spec?.ttlSecondsAfterFinished as number | undefined) ?? TTL_AFTER_FINISHED_SECONDS,
      ...(input.activeDeadlineSeconds === undefined
        ? {}
        : { activeDeadlineSeconds: input.activeDeadlineSeconds }),
      template: {
        ...(t.spec?.template ?? {}),
        metadata: {
          ...(t.spec?.template?.metadata ?? {}),
          labels: { ...t.spec?.template?.metadata?.labels, ...labels },
          annotations: { ...t.spec?.template?.metadata?.annotations, ...annotations },
        },
        spec: {
          ...podSpec,
          restartPolicy: "Never",
          terminationGracePeriodSeconds: input.terminationGracePeriodSeconds,
          ...(input.serviceAccountName === undefined
            ? {}
            : { serviceAccountName: input.serviceAccountName }),
          ...(input.nodeSelector === undefined || Object.keys(input.nodeSelector).length === 0
            ? {}
            : {
                nodeSelector: {
                  ...(podSpec.nodeSelector as Record<string, string> | undefined),
                  ...input.nodeSelector,
                },
              }),
          ...(input.tolerations === undefined || input.tolerations.length === 0
            ? {}
            : {
                tolerations: [
                  ...((podSpec.tolerations as KubeToleration[] | undefined) ?? []),
                  ...input.tolerations,
                ],
              }),
          ...(input.imagePullSecrets === undefined || input.imagePullSecrets.length === 0
            ? {}
            : { imagePullSecrets: input.imagePullSecrets.map((name) => ({ name })) }),
          containers: [flow, ...others],
        },
      },
    } as KubeJob["spec"],
  } as KubeJob;
}

/** `secret:NAME/KEY` → [NAME, KEY]. */
export function secretParts(reference: string): [string, string] {
  const body = reference.slice("secret:".length);
  const slash = body.indexOf("/");
  return [body.slice(0, slash), body.slice(slash + 1)];
}

/** Splits an env map into literal-to-be references (`env:NAME`) and Secret references. */
export function splitEnv(env: Readonly<Record<string, string>> | undefined): {
  plain: Record<string, string>;
  secrets: Record<string, string>;
} {
  const plain: Record<string, string> = {};
  const secrets: Record<string, string> = {};
  for (const [name, value] of Object.entries(env ?? {})) {
    if (isKubernetesSecretReference(value)) secrets[name] = value;
    else plain[name] = value;
  }
  return { plain, secrets };
}

/** Node selectors named by the environment's labels: `k8s:<key>=<value>`. */
export function nodeSelectorFromLabels(labels: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const label of labels) {
    const match = /^k8s:([^=]+)=(.*)$/.exec(label);
    if (match) out[match[1] as string] = match[2] as string;
  }
  return out;
}
