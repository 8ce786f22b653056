/**
 * The Kubernetes API client: the one door weft has to a cluster (the `kubernetes` environment
 * runs Jobs through it, the Kubernetes agent finds and reaps them). It wraps
 * `@kubernetes/client-node` behind the few calls weft needs, and answers weft's errors: a
 * cluster that does not answer (KUBERNETES_UNREACHABLE naming the URL), credentials refused or
 * a verb not granted (KUBERNETES_FORBIDDEN, in the API server's words), a namespace that does
 * not exist (KUBERNETES_NAMESPACE_NOT_FOUND), anything else (KUBERNETES_API_ERROR).
 *
 * The client library (~300 modules) loads on the first `KubeClient.load`, never when this
 * module is imported: every `weft execute` imports the environment registry, whose
 * `kubernetes` kind imports this module.
 */
import { homedir } from "node:os";
import { join } from "node:path";
import { PassThrough, type Readable } from "node:stream";
import type * as K8s from "@kubernetes/client-node";
import { WeftError } from "../core/errors.ts";

/** A Job as the API takes and answers it. */
export type KubeJob = K8s.V1Job;
/** A Pod as the API answers it. */
export type KubePod = K8s.V1Pod;

/** The label every Job and Pod weft starts carries; its value is the flow run id. */
export const KUBE_RUN_LABEL = "io.weftflow/run";
/** The label naming the agent (or process) that started a Job, for reaping. */
export const KUBE_OWNER_LABEL = "io.weftflow/owner";

/** Where the credentials come from. */
export interface KubeClientOptions {
  /**
   * A kubeconfig file. @default in the cluster (a Pod's service account) when
   * KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG, else ~/.kube/config
   */
  kubeconfig?: string | undefined;
  /** The kubeconfig context to use. @default the file's current-context */
  context?: string | undefined;
}

/** One permission to check with a SelfSubjectAccessReview. */
export interface KubeAccessCheck {
  verb: string;
  resource: string;
  /** The API group ("" for the core group). @default "" */
  group?: string;
  subresource?: string;
  namespace: string;
}

/** What a Pod watch tells: the event type and the Pod. */
export type KubePodEvent = { type: "ADDED" | "MODIFIED" | "DELETED"; pod: KubePod };

/** A running watch: `stop()` ends it; `done` settles when it ended (from either side). */
export interface KubeWatch {
  stop(): void;
  readonly done: Promise<void>;
}

type ClientModule = typeof K8s;
let clientModule: Promise<ClientModule> | undefined;
function loadClientModule(): Promise<ClientModule> {
  clientModule ??= import("@kubernetes/client-node");
  return clientModule;
}

/** A narrow, typed door to one cluster, with one identity. */
export class KubeClient {
  /** The API server's URL (named in every error). */
  readonly server: string;
  /** Where the credentials came from ("in-cluster" or the kubeconfig path and context). */
  readonly source: string;
  private readonly core: K8s.CoreV1Api;
  private readonly batch: K8s.BatchV1Api;
  private readonly authz: K8s.AuthorizationV1Api;
  private readonly versions: K8s.VersionApi;

  private constructor(
    private readonly k8s: ClientModule,
    private readonly config: K8s.KubeConfig,
    source: string,
  ) {
    this.server = config.getCurrentCluster()?.server ?? "(no cluster)";
    this.source = source;
    this.core = config.makeApiClient(k8s.CoreV1Api);
    this.batch = config.makeApiClient(k8s.BatchV1Api);
    this.authz = config.makeApiClient(k8s.AuthorizationV1Api);
    this.versions = config.makeApiClient(k8s.VersionApi);
  }

  /**
   * Loads credentials (a kubeconfig and context, or the Pod's service account) and makes a
   * client; nothing is sent yet. A kubeconfig that cannot be read or names no such context is
   * INVALID_ARGUMENT naming it.
   */
  static async load(options: KubeClientOptions = {}): Promise<KubeClient> {
    const k8s = await loadClientModule();
    const config = new k8s.KubeConfig();
    let source: string;
    const inCluster =
      options.kubeconfig === undefined &&
      process.env.KUBECONFIG === undefined &&
      process.env.KUBERNETES_SERVICE_HOST !== undefined;
    try {
      if (inCluster) {
        config.loadFromCluster();
        source = "in-cluster service account";
      } else {
        const file =
          options.kubeconfig ??
          process.env.KUBECONFIG?.split(":")[0] ??
          join(homedir(), ".kube", "config");
        config.loadFromFile(file);
        source = `kubeconfig ${file}`;
      }
    } catch (error) {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `could not load Kubernetes credentials: ${(error as Error).message}`,
        {
          cause: error,
          hint: "give a readable kubeconfig (--kubeconfig, KUBECONFIG), or run inside the cluster with a service account",
        },
      );
    }
    if (options.context !== undefined) {
      if (!config.getContexts().some((c) => c.name === options.context)) {
        throw new WeftError(
          "INVALID_ARGUMENT",
          `the ${source} has no context ${JSON.stringify(options.context)} (it has ${
            config
              .getContexts()
              .map((c) => c.name)
              .join(", ") || "none"
          })`,
          { hint: "name a context of the kubeconfig (kubectl config get-contexts)" },
        );
      }
      config.setCurrentContext(options.context);
    }
    if (config.getCurrentCluster() === null) {
      throw new WeftError("INVALID_ARGUMENT", `the ${source} names no cluster`, {
        hint: "set its current-context, or give a context",
      });
    }
    const context = inCluster ? "" : ` (context ${config.getCurrentContext()})`;
    return new KubeClient(k8s, config, `${source}${context}`);
  }

  /** The API server's version (gitVersion); KUBERNETES_UNREACHABLE when it does not answer. */
  async version(): Promise<string> {
    try {
      return (await this.versions.getCode()).gitVersion;
    } catch (error) {
      throw this.failed("read the API server's version", error);
    }
  }

  /**
   * Whether `namespace` exists: true or false, or undefined when these credentials may not
   * read namespaces (a Role in one namespace cannot).
   */
  async namespaceExists(namespace: string): Promise<boolean | undefined> {
    try {
      await this.core.readNamespace({ name: namespace });
      return true;
    } catch (error) {
      const status = kubeStatusOf(error);
      if (status === 404) return false;
      if (status === 403) return undefined;
      throw this.failed(`read namespace ${namespace}`, error);
    }
  }

  /** The checks these credentials fail (empty: all granted), by SelfSubjectAccessReview. */
  async denied(checks: readonly KubeAccessCheck[]): Promise<KubeAccessCheck[]> {
    const answers = await Promise.all(
      checks.map(async (check) => {
        try {
          const review = await this.authz.createSelfSubjectAccessReview({
            body: {
              apiVersion: "authorization.k8s.io/v1",
              kind: "SelfSubjectAccessReview",
              spec: {
                resourceAttributes: {
                  verb: check.verb,
                  resource: check.resource,
                  group: check.group ?? "",
                  namespace: check.namespace,
                  ...(check.subresource === undefined ? {} : { subresource: check.subresource }),
                },
              },
            },
          });
          return review.status?.allowed === true;
        } catch (error) {
          throw this.failed("review this identity's permissions", error);
        }
      }),
    );
    return checks.filter((_, i) => !answers[i]);
  }

  /** Creates a Job (or, with `dryRun`, has the API server check it without storing it). */
  async createJob(namespace: string, job: KubeJob, options: { dryRun?: boolean } = {}) {
    try {
      return await this.batch.createNamespacedJob({
        namespace,
        body: job,
        ...(options.dryRun ? { dryRun: "All" } : {}),
      });
    } catch (error) {
      throw this.failed(`create Job ${job.metadata?.name ?? ""} in namespace ${namespace}`, error, {
        namespace,
      });
    }
  }

  /** The Job, or undefined when it does not exist. */
  async readJob(namespace: string, name: string): Promise<KubeJob | undefined> {
    try {
      return await this.batch.readNamespacedJob({ namespace, name });
    } catch (error) {
      if (kubeStatusOf(error) === 404) return undefined;
      throw this.failed(`read Job ${name} in namespace ${namespace}`, error);
    }
  }

  /**
   * Deletes a Job and its Pods (Pods get `gracePeriodSeconds` to stop, then SIGKILL). Answers
   * false when it was already gone.
   */
  async deleteJob(
    namespace: string,
    name: string,
    options: { gracePeriodSeconds?: number; propagationPolicy?: "Foreground" | "Background" } = {},
  ): Promise<boolean> {
    try {
      await this.batch.deleteNamespacedJob({
        namespace,
        name,
        propagationPolicy: options.propagationPolicy ?? "Foreground",
        ...(options.gracePeriodSeconds === undefined
          ? {}
          : { gracePeriodSeconds: options.gracePeriodSeconds }),
      });
      return true;
    } catch (error) {
      if (kubeStatusOf(error) === 404) return false;
      throw this.failed(`delete Job ${name} in namespace ${namespace}`, error);
    }
  }

  /** Jobs matching `labelSelector`, in `namespace` or (undefined) in every namespace. */
  async listJobs(labelSelector: string, namespace?: string): Promise<KubeJob[]> {
    try {
      const list =
        namespace === undefined
          ? await this.batch.listJobForAllNamespaces({ labelSelector })
          : await this.batch.listNamespacedJob({ namespace, labelSelector });
      return list.items;
    } catch (error) {
      throw this.failed(
        `list Jobs labelled ${labelSelector}${namespace === undefined ? "" : ` in namespace ${namespace}`}`,
        error,
      );
    }
  }

  /** Pods matching `labelSelector` in `namespace`. */
  async listPods(namespace: string, labelSelector: string): Promise<KubePod[]> {
    try {
      return (await this.core.listNamespacedPod({ namespace, labelSelector })).items;
    } catch (error) {
      throw this.failed(`list Pods labelled ${labelSelector} in namespace ${namespace}`, error);
    }
  }

  /** The Pod, or undefined when it does not exist. */
  async readPod(namespace: string, name: string): Promise<KubePod | undefined> {
    try {
      return await this.core.readNamespacedPod({ namespace, name });
    } catch (error) {
      if (kubeStatusOf(error) === 404) return undefined;
      throw this.failed(`read Pod ${name} in namespace ${namespace}`, error);
    }
  }

  /** Deletes a Pod (tests and operators; a Job's Pods go with the Job). False when already gone. */
  async deletePod(namespace: string, name: string, gracePeriodSeconds?: number): Promise<boolean> {
    try {
      await this.core.deleteNamespacedPod({
        namespace,
        name,
        ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
      });
      return true;
    } catch (error) {
      if (kubeStatusOf(error) === 404) return false;
      throw this.failed(`delete Pod ${name} in namespace ${namespace}`, error);
    }
  }

  /**
   * Watches the Pods matching `labelSelector` in `namespace` (the ones that exist first, as
   * ADDED, then every change) until `stop()` or until the server ends the watch (`done`
   * settles either way; a failure to start it rejects).
   */
  async watchPods(
    namespace: string,
    labelSelector: string,
    onEvent: (event: KubePodEvent) => void,
  ): Promise<KubeWatch> {
    const watch = new this.k8s.Watch(this.config);
    let ended: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      ended = resolve;
    });
    let failure: unknown;
    const controller = await watch.watch(
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      { labelSelector, allowWatchBookmarks: false },
      (type: string, object: KubePod) => {
        if (type === "ADDED" || type === "MODIFIED" || type === "DELETED") {
          onEvent({ type, pod: object });
        }
      },
      (error: unknown) => {
        failure = error;
        ended();
      },
    );
    // A watch that could not start calls done before the promise above resolves.
    if (failure !== undefined && failure !== null && !isAbort(failure)) {
      throw this.failed(`watch Pods labelled ${labelSelector} in namespace ${namespace}`, failure, {
        namespace,
      });
    }
    return { stop: () => controller.abort(), done };
  }

  /**
   * Follows a container's log (stdout and stderr, merged by the kubelet) from its start: the
   * stream ends when the container ends, or when `signal` aborts. The container must have
   * started (Running or terminated).
   */
  async followLog(
    namespace: string,
    pod: string,
    container: string,
    signal?: AbortSignal,
  ): Promise<Readable> {
    const out = new PassThrough();
    let controller: AbortController;
    try {
      controller = await new this.k8s.Log(this.config).log(namespace, pod, container, out, {
        follow: true,
      });
    } catch (error) {
      out.destroy();
      throw this.failed(`follow the log of Pod ${pod} in namespace ${namespace}`, error);
    }
    const abort = () => {
      controller.abort();
      out.end();
    };
    if (signal?.aborted) abort();
    else signal?.addEventListener("abort", abort, { once: true });
    out.on("close", () => signal?.removeEventListener("abort", abort));
    return out;
  }

  /** A failed call as weft's error: unreachable, forbidden, namespace missing, or the API's words. */
  failed(what: string, error: unknown, context: { namespace?: string } = {}): WeftError {
    const status = kubeStatusOf(error);
    if (status === undefined) {
      return new WeftError(
        "KUBERNETES_UNREACHABLE",
        `could not ${what}: the Kubernetes API server at ${this.server} does not answer (${causeOf(error)})`,
        {
          cause: error,
          hint: `check that the cluster is up and that the ${this.source} names it`,
        },
      );
    }
    const message = kubeApiMessage(error);
    if (status === 401) {
      return new WeftError(
        "KUBERNETES_FORBIDDEN",
        `could not ${what}: the API server at ${this.server} refused the credentials of the ${this.source} (401 ${message})`,
        { cause: error, hint: "renew the token or certificate, or use another context" },
      );
    }
    if (status === 403) {
      return new WeftError("KUBERNETES_FORBIDDEN", `could not ${what}: ${message}`, {
        cause: error,
        hint: "grant this identity the verb with a Role and RoleBinding in the namespace (weft agent install kubernetes prints them)",
      });
    }
    if (
      status === 404 &&
      context.namespace !== undefined &&
      /namespaces? "?[^"]*"? not found/i.test(message)
    ) {
      return namespaceNotFound(context.namespace, this.server);
    }
    return new WeftError(
      "KUBERNETES_API_ERROR",
      `could not ${what} on ${this.server}: ${message} (${status})`,
      { cause: error },
    );
  }
}

/** KUBERNETES_NAMESPACE_NOT_FOUND naming the namespace and the cluster. */
export function namespaceNotFound(namespace: string, server: string): WeftError {
  return new WeftError(
    "KUBERNETES_NAMESPACE_NOT_FOUND",
    `namespace ${namespace} does not exist on the cluster at ${server}`,
    {
      hint: `create it (kubectl create namespace ${namespace}) or set the environment's namespace`,
    },
  );
}

/** The HTTP status of an API error, or undefined when the server never answered. */
export function kubeStatusOf(error: unknown): number | undefined {
  const e = error as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.statusCode === "number") return e.statusCode;
  // ApiException: `code` is the HTTP status. The log call reports a connection failure as a
  // made-up 500 without a body ("Error occurred in log request").
  if (typeof e?.code === "number") {
    if (e.code === 500 && (error as { body?: unknown }).body === undefined) return undefined;
    return e.code;
  }
  return undefined;
}

/** The API server's own message (its Status object's `message`), else the error's. */
export function kubeApiMessage(error: unknown): string {
  const body = (error as { body?: unknown } | null)?.body;
  let parsed: unknown = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = body;
    }
  }
  if (parsed !== null && typeof parsed === "object") {
    const message = (parsed as { message?: unknown }).message;
    if (typeof message === "string") return message;
  }
  if (typeof parsed === "string" && parsed !== "") return parsed;
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}

function causeOf(error: unknown): string {
  // The log call's made-up 500 carries nothing of the cause.
  if (typeof (error as { code?: unknown } | null)?.code === "number") return "no answer";
  let e: unknown = error;
  for (let i = 0; i < 5 && e; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return error instanceof Error ? error.message.split("\n")[0]! : String(error);
}

function isAbort(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === "AbortError";
}
