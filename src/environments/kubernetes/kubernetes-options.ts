// The options of the kubernetes environment and their JSON schema (validated once, in the
// environment's constructor and when a server or agent reads the JSON back).
import { z } from "zod";
import type { ExecutorSpec } from "../../core/executor-spec.ts";
import { flowExecutorSchema } from "../../core/executor-spec.ts";
import type { EnvironmentHooks } from "../environment.ts";

/** The pull policies (the container environment's words): Always, IfNotPresent, Never. */
export const KUBE_PULL_POLICIES = ["always", "if-not-present", "never"] as const;

/** Options of the kubernetes environment. */
export interface KubernetesEnvironmentOptions extends EnvironmentHooks {
  /** The namespace of the run's Job. @default the agent's --namespace, else "default" */
  namespace?: string;
  /**
   * The image to run: a pushed runtime image (`node /opt/weftflow/bin/weft.js execute`) for
   * s3/http/git storage, or another image for a container storage's flows.
   * @default the container storage's image (pushed to a registry)
   */
  image?: string;
  /** When the kubelet pulls the image. @default "if-not-present" */
  pullPolicy?: (typeof KUBE_PULL_POLICIES)[number];
  /** The Pod's service account. @default the namespace's default */
  serviceAccountName?: string;
  /** The flow container's memory request and limit in MiB. @default none */
  memoryMb?: number;
  /** The flow container's CPU limit (e.g. 0.5). @default none */
  cpus?: number;
  /** Resource requests and limits as Kubernetes spells them; `memoryMb`/`cpus` win. @default none */
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  /** Node labels the Pod must land on (plus `k8s:<key>=<value>` environment labels). @default {} */
  nodeSelector?: Record<string, string>;
  /** Taints the Pod tolerates. @default [] */
  tolerations?: KubeToleration[];
  /**
   * Variables for the flow-run process: `env:NAME` references (read from the agent's
   * environment when a run starts) or `secret:NAME/KEY` (a key of a Secret in the namespace,
   * read by the kubelet: the value never passes through weft). @default {}
   */
  env?: Record<string, string>;
  /** Names of Secrets holding registry credentials (never their content). @default [] */
  imagePullSecrets?: string[];
  /** The uid the flow runs as. @default the image's */
  runAsUser?: number;
  /**
   * A Job manifest (partial) merged underneath weft's fields, which win: add volumes,
   * sidecars, annotations, a priority class. The container named `flow` is weft's. @default {}
   */
  jobTemplate?: Record<string, unknown>;
  /** Where task bodies run inside the Pod. @default "concurrent" */
  executor?: ExecutorSpec;
  /** Wall-clock limit of the whole run in ms (the Job's activeDeadlineSeconds). @default none */
  timeoutMs?: number;
  /** After a cancel, how long the Pod may take to stop before it is killed. @default 5000 */
  killGraceMs?: number;
  /** How long the image may fail to pull (ErrImagePull, ImagePullBackOff) before the run fails. @default 60000 */
  startTimeoutMs?: number;
  /** A kubeconfig file, for runs outside the cluster (an agent's --kubeconfig wins). @default in-cluster, else $KUBECONFIG, else ~/.kube/config */
  kubeconfig?: string;
  /** The kubeconfig context (an agent's --context wins). @default the kubeconfig's current context */
  context?: string;
  /** Agents must carry all of these; `k8s:<key>=<value>` ones also select nodes. @default [] */
  labels?: string[];
}

const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const quantity = z.string().regex(/^[0-9.]+[A-Za-z]*$/, "a quantity such as 512Mi or 500m");

/** The JSON of a kubernetes environment. */
export const kubernetesEnvironmentSchema = z.strictObject({
  type: z.literal("kubernetes"),
  schemaVersion: z.literal(1),
  labels: z.array(z.string().min(1)),
  namespace: z.string().regex(DNS_LABEL, "a namespace name (DNS label)").optional(),
  image: z.string().min(1).optional(),
  pullPolicy: z.enum(KUBE_PULL_POLICIES).optional(),
  serviceAccountName: z.string().regex(DNS_SUBDOMAIN, "a service account name").optional(),
  memoryMb: z.int().min(6).optional(),
  cpus: z.number().positive().max(1024).optional(),
  resources: z
    .strictObject({
      requests: z.record(z.string().min(1), quantity).optional(),
      limits: z.record(z.string().min(1), quantity).optional(),
    })
    .optional(),
  nodeSelector: z.record(z.string().min(1), z.string()).optional(),
  tolerations: z
    .array(
      z.strictObject({
        key: z.string().optional(),
        operator: z.enum(["Exists", "Equal"]).optional(),
        value: z.string().optional(),
        effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).optional(),
        tolerationSeconds: z.int().optional(),
      }),
    )
    .optional(),
  env: z.record(z.string().regex(VARIABLE_NAME), z.string()).optional(),
  imagePullSecrets: z.array(z.string().regex(DNS_SUBDOMAIN, "a Secret name")).optional(),
  runAsUser: z.int().min(0).optional(),
  jobTemplate: z.record(z.string(), z.unknown()).optional(),
  executor: flowExecutorSchema.optional(),
  timeoutMs: z.int().min(1).optional(),
  killGraceMs: z.int().min(0).optional(),
  startTimeoutMs: z.int().min(1).optional(),
  kubeconfig: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
});

/** A toleration, as Kubernetes spells it. */
export interface KubeToleration {
  key?: string;
  operator?: "Exists" | "Equal";
  value?: string;
  effect?: "NoSchedule" | "PreferNoSchedule" | "NoExecute";
  tolerationSeconds?: number;
}
