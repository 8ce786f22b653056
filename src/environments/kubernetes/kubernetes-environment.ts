// The kubernetes environment: each flow run as one Kubernetes Job of one Pod, whose `flow`
// container runs `weft execute` driven by the flow-run protocol's variables, with its events
// on stdout behind a per-run marker, read back from the Pod's log stream (kubernetes-run.ts).
// Pure configuration like every environment; the cluster's credentials come from the host
// (an agent's --kubeconfig/--context, or its Pod's service account) before the flow's own
// `kubeconfig`/`context`, which serve `weft run` outside the cluster.
//
// Decisions (docs/kubernetes-design.md):
// - Events and logs travel on the Pod's log stream, as on a container's stdout: the Pod needs
//   no route to the weft server (this cluster has no DNS or Service routing), the splitter and
//   forwarder are the subprocess and container environments', and the API server is the one
//   thing the environment talks to.
// - The image: the storage's (container storage, pushed to a registry and named by digest),
//   else the `image` option (a pushed runtime image, for s3/http/git storage). An image only on
//   the agent's engine (an unpushed container storage) is refused at setup, naming `registry`,
//   unless `pullPolicy: "never"` says it was loaded into the cluster's nodes; local storage is
//   refused (its bundles are in the agent's files).
// - `backoffLimit: 0`: retries are weft's (run health reschedules a crashed run), never
//   Kubernetes'. The Job is always deleted at the end (1.20 has no ttlSecondsAfterFinished).
// - Jobs and Pods carry `io.weftflow/run` and `io.weftflow/owner`: an agent killed -9 leaves
//   its Jobs running, and the next agent of that name deletes them when it starts
//   (`kubernetesEnvironmentKind.reap`). It does not adopt them (follow them to their end):
//   the run they belong to may already be rescheduled by run health, so following it could end
//   it twice; reaping leaves one owner of the outcome, the server.
import type { z } from "zod";
import { WeftError } from "../../core/errors.ts";
import {
  KUBE_OWNER_LABEL,
  KubeClient,
  type KubeClientOptions,
  namespaceNotFound,
} from "../../kubernetes/kube-client.ts";
import { assertNoCredentials } from "../../serialization/credentials.ts";
import { parseLocation, type Storage } from "../../storage/storage.ts";
import {
  commonFlagOptions,
  type Environment,
  type EnvironmentHooks,
  type EnvironmentHost,
  type EnvironmentKind,
  type ExecuteContext,
  type ExecuteResult,
  type SerializedEnvironment,
  withHooks,
} from "../environment.ts";
import { type EnvironmentImpl, guardEnvironment } from "../environment-guard.ts";
import { checkEnvironmentOptions, optionsFromJSON } from "../environment-options.ts";
import { type KubernetesImage, resolveKubernetesImage } from "./kubernetes-image.ts";
import { ownerLabelValue, splitEnv } from "./kubernetes-job.ts";
import {
  type KubernetesEnvironmentOptions,
  kubernetesEnvironmentSchema,
} from "./kubernetes-options.ts";
import { runJob } from "./kubernetes-run.ts";

export {
  KUBE_PULL_POLICIES,
  type KubernetesEnvironmentOptions,
  kubernetesEnvironmentSchema,
} from "./kubernetes-options.ts";

/** The permissions a run needs in its namespace (what `weft agent install kubernetes` grants). */
export const KUBERNETES_RUN_PERMISSIONS = [
  { verb: "create", resource: "jobs", group: "batch" },
  { verb: "get", resource: "jobs", group: "batch" },
  { verb: "delete", resource: "jobs", group: "batch" },
  { verb: "list", resource: "pods", group: "" },
  { verb: "watch", resource: "pods", group: "" },
  { verb: "get", resource: "pods", subresource: "log", group: "" },
] as const;

/** The client options of a run: the host's credentials first, then the flow's. */
function clientOptions(
  options: KubernetesEnvironmentOptions,
  host: EnvironmentHost,
): KubeClientOptions {
  const k = host.kubernetes;
  if (k?.kubeconfig !== undefined || k?.context !== undefined || k?.inCluster === true) {
    return { kubeconfig: k.kubeconfig, context: k.context };
  }
  return { kubeconfig: options.kubeconfig, context: options.context };
}

class KubernetesEnvironment implements EnvironmentImpl {
  readonly type = "kubernetes";
  readonly storageNeeds = "shareable";
  readonly runsImages = true;
  readonly labels: string[];
  private host: EnvironmentHost = {};
  private client: Promise<KubeClient> | undefined;
  /** The image each storage's runs use, decided at setup (or at the first execute). */
  private readonly images = new WeakMap<Storage, KubernetesImage>();
  /** Jobs of runs in progress, by run id (teardown deletes what is left). */
  private readonly jobs = new Map<string, { namespace: string; name: string }>();

  constructor(private readonly options: KubernetesEnvironmentOptions) {
    this.labels = checkEnvironmentOptions("kubernetes", kubernetesEnvironmentSchema, options);
    // Only references: a literal would travel to the server with the flow (and sit in its database).
    assertNoCredentials({ env: options.env ?? {} }, "kubernetes environment");
  }

  get hooks(): EnvironmentHooks {
    return this.options;
  }

  /** The namespace runs go to: the flow's, else the host's default, else "default". */
  get namespace(): string {
    return this.options.namespace ?? this.host.kubernetes?.namespace ?? "default";
  }

  private clientOf(): Promise<KubeClient> {
    this.client ??= KubeClient.load(clientOptions(this.options, this.host));
    this.client.catch(() => {
      this.client = undefined;
    });
    return this.client;
  }

  /**
   * The cluster answers with these credentials, the namespace exists, this identity may run
   * Jobs there (SelfSubjectAccessReview), and the storage's image is one the cluster can pull.
   */
  async setup(storage: Storage, host: EnvironmentHost = {}): Promise<void> {
    this.host = host;
    this.client = undefined;
    const client = await this.clientOf();
    await client.version();
    await checkNamespace(client, this.namespace);
    const denied = await client.denied(
      KUBERNETES_RUN_PERMISSIONS.map((p) => ({ ...p, namespace: this.namespace })),
    );
    if (denied.length > 0) {
      const verbs = denied.map(
        (d) => `${d.verb} ${d.resource}${d.subresource === undefined ? "" : `/${d.subresource}`}`,
      );
      throw new WeftError(
        "KUBERNETES_FORBIDDEN",
        `the ${client.source} may not ${verbs.join(", ")} in namespace ${this.namespace} on ${client.server}`,
        {
          hint: "grant them with a Role and RoleBinding in the namespace (weft agent install kubernetes prints them)",
        },
      );
    }
    // A storage not built yet (`weft run` sets up first) says nothing of its image.
    if (Object.keys(storage.flows).length > 0) this.imageOf(storage);
  }

  private imageOf(storage: Storage): KubernetesImage {
    let image = this.images.get(storage);
    if (image === undefined) {
      image = resolveKubernetesImage(storage, {
        image: this.options.image,
        fallbackImage: this.host.kubernetes?.image,
        pullPolicy: this.options.pullPolicy ?? "if-not-present",
      });
      this.images.set(storage, image);
    }
    return image;
  }

  async execute(storage: Storage, location: string, ctx: ExecuteContext): Promise<ExecuteResult> {
    const flowName = parseLocation(location, storage.name).flowName;
    let crashed = false;
    const result = await withHooks(this.options, ctx, flowName, async (inner) => {
      const client = await this.clientOf();
      const outcome = await runJob(
        {
          client,
          namespace: this.namespace,
          options: this.options,
          labels: this.labels,
          owner: this.host.owner ?? `pid-${process.pid}`,
          image: this.imageOf(storage),
          runner: storage.getEnvRunner(location),
          env: splitEnv(this.options.env),
          onCreated: (job) => this.jobs.set(ctx.flowRunId, job),
        },
        inner,
        flowName,
      ).finally(() => this.jobs.delete(ctx.flowRunId));
      crashed = outcome.crashed;
      return outcome.state;
    });
    return crashed ? { ...result, crashed: true } : result;
  }

  async teardown(ctx: ExecuteContext): Promise<void> {
    const job = this.jobs.get(ctx.flowRunId);
    if (job === undefined) return;
    const client = await this.clientOf();
    await client.deleteJob(job.namespace, job.name, { gracePeriodSeconds: 0 });
  }

  toJSON(): SerializedEnvironment {
    const { onStart: _start, onExit: _exit, labels: _labels, ...settings } = this.options;
    return { type: this.type, schemaVersion: 1, labels: this.labels, ...settings };
  }
}

/** KUBERNETES_NAMESPACE_NOT_FOUND unless the namespace exists (checked by a dry run when namespaces may not be read). */
async function checkNamespace(client: KubeClient, namespace: string): Promise<void> {
  const exists = await client.namespaceExists(namespace);
  if (exists === true) return;
  if (exists === false) throw namespaceNotFound(namespace, client.server);
  // A Role in one namespace cannot read Namespace objects: a dry-run Job creation says whether
  // the namespace exists (404) without creating anything; a 403 is reported by the access review.
  try {
    await client.createJob(
      namespace,
      {
        apiVersion: "batch/v1",
        kind: "Job",
        metadata: { name: "weft-setup-probe" },
        spec: {
          template: {
            spec: { restartPolicy: "Never", containers: [{ name: "probe", image: "probe" }] },
          },
        },
      },
      { dryRun: true },
    );
  } catch (error) {
    if ((error as WeftError).code === "KUBERNETES_NAMESPACE_NOT_FOUND") throw error;
  }
}

/**
 * Runs each flow run as a Kubernetes Job of one Pod: the flow's image (a container storage
 * pushed to a registry, or `image`), `backoffLimit: 0`, the run's events and logs read from
 * the Pod's log stream. Needs credentials for the cluster (in-cluster service account, or a
 * kubeconfig) that may create, get and delete Jobs and list, watch and read the logs of Pods.
 * @example
 * createKubernetesEnvironment({ namespace: "flows", memoryMb: 512, env: { DB_PASSWORD: "secret:db/password" } })
 */
export function createKubernetesEnvironment(
  options: KubernetesEnvironmentOptions = {},
): Environment {
  return guardEnvironment(new KubernetesEnvironment(options), kubernetesEnvironmentKind);
}

/** Rebuilds a kubernetes environment from validated JSON. */
export function kubernetesEnvironmentFromJSON(
  json: z.infer<typeof kubernetesEnvironmentSchema>,
): Environment {
  return createKubernetesEnvironment(optionsFromJSON<KubernetesEnvironmentOptions>(json));
}

/**
 * Deletes the Jobs (and their Pods) a host's earlier process left (an agent killed -9): every
 * Job labelled with `host.owner`, in the host's namespace (or every namespace the credentials
 * may list). Answers how many it deleted; a host without Kubernetes settings reaps nothing.
 */
async function reapJobs(host: EnvironmentHost & { owner: string }): Promise<number> {
  const k = host.kubernetes;
  if (k === undefined) return 0;
  const client = await KubeClient.load({ kubeconfig: k.kubeconfig, context: k.context });
  const selector = `${KUBE_OWNER_LABEL}=${ownerLabelValue(host.owner)}`;
  const left = await client.listJobs(selector, k.namespace);
  await Promise.all(
    left.map((job) =>
      client.deleteJob(job.metadata?.namespace ?? k.namespace ?? "default", job.metadata!.name!, {
        gracePeriodSeconds: 0,
        propagationPolicy: "Background",
      }),
    ),
  );
  return left.length;
}

/** The kubernetes environment kind. */
export const kubernetesEnvironmentKind: EnvironmentKind<
  z.infer<typeof kubernetesEnvironmentSchema>
> = {
  type: "kubernetes",
  schema: kubernetesEnvironmentSchema,
  create: kubernetesEnvironmentFromJSON,
  capabilities: { storageNeeds: "shareable", retriesElsewhere: false },
  reap: reapJobs,
  fromFlags: (options) =>
    createKubernetesEnvironment({
      ...commonFlagOptions(options),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.env === undefined ? {} : { env: options.env }),
    }),
};
