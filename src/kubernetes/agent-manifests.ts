// The manifests an operator applies to run a Kubernetes agent inside a cluster
// (`weft agent install kubernetes` prints them): a ServiceAccount, a Role and a RoleBinding with
// the least privileges the agent needs in one namespace, and a Deployment of one replica running
// `weft agent start --kubernetes` in the runtime image.
//
// Decisions:
// - Least privilege, one namespace: Jobs create/get/list/watch/delete (deploy, follow, cancel,
//   reap by label); Pods get/list/watch and pods/log get (follow the Job's Pod and read its event
//   stream) and delete (a Pod whose process ended is removed at once instead of waiting out the
//   kubelet, and a second Pod the Job controller started is removed before it runs the flow); the namespace object itself get (setup checks it exists: a RoleBinding in namespace
//   N grants `get` on namespace N only). No Secrets: `secret:NAME/KEY` references become
//   `secretKeyRef`s the kubelet resolves, so a Secret's value never passes through the agent.
//   SelfSubjectAccessReview needs no rule: every authenticated user may create one
//   (`system:basic-user`, bound to `system:authenticated` by default since 1.6, still in 1.20).
// - One replica, strategy Recreate: the agent reaps Jobs labelled with its name when it starts,
//   so two agents of one name must never overlap (a rolling update would reap the live one's).
// - The API token comes from a Secret (`--token-secret NAME/KEY`), never from the manifest.
// - Output is YAML written here (block style, every string JSON-quoted, which YAML reads as the
//   same string), so no YAML library is loaded; `--json` prints one `List` instead.
import { WeftError } from "../core/errors.ts";

/** A Kubernetes object as plain JSON. */
export type KubeManifest = { apiVersion: string; kind: string } & Record<string, unknown>;

/** Options of {@link agentManifests}. */
export interface AgentManifestOptions {
  /** The namespace the agent and its Jobs live in. @default "default" */
  namespace?: string;
  /** The image of the agent (and, by default, of its runs): weft's runtime image, pushed. */
  image: string;
  /** The weft server's URL as the agent's Pod reaches it. */
  api: string;
  /** The Secret key holding the API token, as `NAME/KEY`. @default no token */
  tokenSecret?: string;
  /** Labels the agent carries (which runs it claims). @default [] */
  labels?: readonly string[];
  /** The agent's name: its Deployment, ServiceAccount, Role, and the owner label of its Jobs. @default "weft-agent" */
  name?: string;
  /** Run the agent's Pod on the node's network (clusters without Service DNS). @default false */
  hostNetwork?: boolean;
}

/** The Jobs, Pods and log permissions the agent needs, in its one namespace. */
export const AGENT_RBAC_RULES = [
  {
    apiGroups: ["batch"],
    resources: ["jobs"],
    verbs: ["create", "get", "list", "watch", "delete"],
  },
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "delete"] },
  { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
  { apiGroups: [""], resources: ["namespaces"], verbs: ["get"] },
] as const;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SECRET_KEY = /^[-._a-zA-Z0-9]+$/;

function checkName(what: string, value: string): void {
  if (!DNS_LABEL.test(value)) {
    throw new WeftError(
      "INVALID_ARGUMENT",
      `${what} ${JSON.stringify(value)} is not a Kubernetes name`,
      { hint: "lower-case letters, digits and '-', at most 63, starting and ending alphanumeric" },
    );
  }
}

/**
 * The ServiceAccount, Role, RoleBinding and Deployment of a Kubernetes agent, in the order
 * they apply.
 */
export function agentManifests(options: AgentManifestOptions): KubeManifest[] {
  const namespace = options.namespace ?? "default";
  const name = options.name ?? "weft-agent";
  checkName("namespace", namespace);
  checkName("agent name", name);
  if (options.image.trim() === "")
    throw new WeftError("INVALID_ARGUMENT", "the agent's image is empty", {
      hint: "pass --image with weft's runtime image pushed to a registry the cluster pulls from",
    });
  const labels = { "app.kubernetes.io/name": "weft-agent", "app.kubernetes.io/instance": name };
  const metadata = { name, namespace, labels };
  const env: Record<string, unknown>[] = [{ name: "WEFT_API_URL", value: options.api }];
  if (options.tokenSecret !== undefined) {
    const [secret = "", key = "", ...rest] = options.tokenSecret.split("/");
    if (rest.length > 0 || !SECRET_KEY.test(key)) {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `--token-secret ${JSON.stringify(options.tokenSecret)} is not NAME/KEY`,
        { hint: "e.g. --token-secret weft-agent/token (the Secret's name, then the key)" },
      );
    }
    checkName("token Secret", secret);
    env.push({ name: "WEFT_API_TOKEN", valueFrom: { secretKeyRef: { name: secret, key } } });
  }
  const args = [
    "agent",
    "start",
    "--kubernetes",
    "--namespace",
    namespace,
    "--image",
    options.image,
    "--name",
    name,
    "--no-hostname-label",
  ];
  if ((options.labels ?? []).length > 0) args.push("--labels", (options.labels ?? []).join(","));
  return [
    { apiVersion: "v1", kind: "ServiceAccount", metadata },
    { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata, rules: AGENT_RBAC_RULES },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata,
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace }],
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata,
      spec: {
        replicas: 1,
        strategy: { type: "Recreate" },
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            serviceAccountName: name,
            ...(options.hostNetwork === true ? { hostNetwork: true } : {}),
            // The agent waits for its runs on SIGTERM (--stop-grace 30 s); the kubelet must too.
            terminationGracePeriodSeconds: 40,
            containers: [
              {
                name: "agent",
                image: options.image,
                command: ["node", "/opt/weftflow/bin/weft.js"],
                args,
                env,
                resources: {
                  requests: { cpu: "100m", memory: "128Mi" },
                  limits: { memory: "512Mi" },
                },
              },
            ],
          },
        },
      },
    },
  ];
}

/** Plain YAML documents (`---` between them) of JSON-like objects. */
export function toYamlDocuments(documents: readonly unknown[]): string {
  return documents.map((d) => `${yamlBlock(d, "")}\n`).join("---\n");
}

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_./-]*$/;

function yamlScalar(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (value === null || value === undefined) return "null";
  throw new Error(`not a JSON value: ${typeof value}`);
}

function isEmptyCollection(value: unknown): boolean {
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === "object" && value !== null && Object.keys(value).length === 0;
}

function yamlBlock(value: unknown, indent: string): string {
  if (Array.isArray(value)) {
    return value
      .map((item) => {
        if (typeof item === "object" && item !== null && !isEmptyCollection(item)) {
          // The first line of a mapping or list goes after the dash, the rest indented under it.
          return `${indent}- ${yamlBlock(item, `${indent}  `).slice(indent.length + 2)}`;
        }
        return `${indent}- ${isEmptyCollection(item) ? JSON.stringify(item) : yamlScalar(item)}`;
      })
      .join("\n");
  }
  if (typeof value === "object" && value !== null) {
    return Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .map(([key, v]) => {
        const k = PLAIN_KEY.test(key) ? key : JSON.stringify(key);
        if (typeof v === "object" && v !== null && !isEmptyCollection(v)) {
          return Array.isArray(v)
            ? `${indent}${k}:\n${yamlBlock(v, indent)}`
            : `${indent}${k}:\n${yamlBlock(v, `${indent}  `)}`;
        }
        return `${indent}${k}: ${isEmptyCollection(v) ? JSON.stringify(v) : yamlScalar(v)}`;
      })
      .join("\n");
  }
  return `${indent}${yamlScalar(value)}`;
}
