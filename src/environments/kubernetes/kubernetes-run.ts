// One flow run as one Job: watch the Job's Pods (before creating it, so that nothing is
// missed), create the Job, follow the `flow` container's log once it started, decide the run's
// state from its final event or, without one, from the Pod and Job status, and delete the Job
// whatever happened (1.20 has no ttlSecondsAfterFinished; a finished Job would stay forever).
//
// Events travel on stdout behind the run's marker (flow-run-protocol.ts, "events on stdout"),
// read from the Pod's log stream; the kubelet merges stderr into it, so every unmarked line is
// output at info. As in the container environment, the final flow event is the run's outcome
// and every other event is passed on as data.
//
// How a Pod that sent no final state ended (docs/kubernetes-design.md, "Run health"):
// - the Job's activeDeadlineSeconds passed (condition DeadlineExceeded): TimedOut — checked
//   first, because the Job controller stops the Pod with SIGTERM, which `weft execute` answers
//   with a final Cancelled event;
// - our cancel deleted the Job: Cancelled;
// - the image cannot be pulled (ErrImagePull, ImagePullBackOff past startTimeoutMs, an invalid
//   name at once) or the container cannot be made (a missing Secret or key): Failed, naming it;
// - OOMKilled: Failed "out of memory (limit N MiB)", crashed;
// - evicted, node lost, deleted from outside, killed by a signal: Failed with the reason, crashed
//   (the agent leaves a crashed run to run health, which reschedules it);
// - any other exit: Failed "exited with code N" with the last lines of output.
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { WeftError } from "../../core/errors.ts";
import type { FlowRunInfo, LogRecord } from "../../core/reporter.ts";
import { State } from "../../core/states.ts";
import type { KubeClient, KubeJob, KubePod, KubeWatch } from "../../kubernetes/kube-client.ts";
import { resolveSecretReference } from "../../serialization/credentials.ts";
import {
  createEventsMarker,
  eventLinePrefix,
  forwardEvent,
  PARAMETERS_IN_ENV_MAX,
  parseEventLine,
  runVariables,
  splitEventLine,
} from "../../serialization/flow-run-protocol.ts";
import { stateFromJSON } from "../../serialization/flow-serializer.ts";
import type { EnvRunner } from "../../storage/storage.ts";
import { type ExecuteContext, isFinalFlowState } from "../environment.ts";
import type { KubernetesImage } from "./kubernetes-image.ts";
import { buildJob, FLOW_CONTAINER, jobName, nodeSelectorFromLabels } from "./kubernetes-job.ts";
import type { KubernetesEnvironmentOptions } from "./kubernetes-options.ts";
import { failed, type JobRunOutcome, judgeJobRun } from "./kubernetes-outcome.ts";

/** What one Job run needs. */
export interface JobRunSpec {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly options: KubernetesEnvironmentOptions;
  readonly labels: readonly string[];
  readonly owner: string;
  readonly image: KubernetesImage;
  readonly runner: EnvRunner;
  readonly env: { plain: Record<string, string>; secrets: Record<string, string> };
  /** Told the Job's name once it exists (so that teardown can delete it). */
  readonly onCreated?: (job: { namespace: string; name: string }) => void;
}

export type { JobRunOutcome };

/** Where the flow-run process keeps its bundle cache inside the Pod (writable for any user). */
const POD_HOME = "/tmp/weft-home";
const OUTPUT_TAIL = 30;
/** After the Pod ended, how long its log may take to drain before it is cut. */
const DRAIN_MS = 3000;
/** Every how many ticks (of 500 ms) the Pods are listed, beside the watch. */
const RESYNC_TICKS = 10;
/** After a cancel's grace, how long the Pod may take to be confirmed gone before we stop waiting. */
const CANCEL_SLACK_MS = 30_000;
/**
 * How long a Job's status may take to say DeadlineExceeded after its Pod went (asked only
 * of a run past its deadline; a loaded job controller took over 5 s in CI).
 */
const JOB_STATUS_WAIT_MS = 30_000;
const IMAGE_PULL_REASONS = new Set(["ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull"]);
const IMAGE_INVALID_REASONS = new Set(["InvalidImageName"]);
const CONFIG_REASONS = new Set(["CreateContainerConfigError", "CreateContainerError"]);

/** Runs one flow run as a Job and deletes the Job afterwards. */
export async function runJob(
  spec: JobRunSpec,
  ctx: ExecuteContext,
  flowName: string,
): Promise<JobRunOutcome> {
  const o = spec.options;
  const parameters = JSON.stringify(ctx.parameters ?? {});
  if (Buffer.byteLength(parameters) > PARAMETERS_IN_ENV_MAX) {
    throw new WeftError(
      "INVALID_PARAMETER",
      `the parameters of run ${ctx.flowRunId} are ${Buffer.byteLength(parameters)} bytes of JSON; a Job run takes ${PARAMETERS_IN_ENV_MAX} at most`,
      { hint: "pass large inputs by reference (a path or URL the flow reads)" },
    );
  }
  if (ctx.signal?.aborted) {
    return {
      state: new State("Cancelled", "the flow run was cancelled before its Job was created"),
      crashed: false,
    };
  }
  const marker = createEventsMarker();
  const env: Record<string, string> = {
    WEFT_HOME: POD_HOME,
    ...resolveEnvMap(spec.env.plain),
    ...ctx.env,
    ...spec.runner.env,
    ...runVariables({
      flowRunId: ctx.flowRunId,
      parameters: { json: parameters },
      eventsMarker: marker,
      ...(o.executor === undefined ? {} : { executor: o.executor }),
      ...(ctx.resume === undefined ? {} : { resume: ctx.resume }),
      ...(ctx.approve === undefined ? {} : { approve: ctx.approve }),
    }),
  };
  const name = jobName(`${ctx.flowRunId.slice(0, 40)}-${Math.random().toString(36).slice(2, 7)}`);
  const job = buildJob({
    name,
    runId: ctx.flowRunId,
    owner: spec.owner,
    image: spec.image.image,
    command: spec.image.command,
    env,
    secretEnv: spec.env.secrets,
    imagePullPolicy: spec.image.pullPolicy,
    ...resourcesOf(o),
    nodeSelector: { ...nodeSelectorFromLabels(spec.labels), ...o.nodeSelector },
    ...(o.tolerations === undefined ? {} : { tolerations: o.tolerations }),
    ...(o.serviceAccountName === undefined ? {} : { serviceAccountName: o.serviceAccountName }),
    ...(o.imagePullSecrets === undefined ? {} : { imagePullSecrets: o.imagePullSecrets }),
    ...(o.runAsUser === undefined ? {} : { runAsUser: o.runAsUser }),
    ...(o.timeoutMs === undefined
      ? {}
      : { activeDeadlineSeconds: Math.max(1, Math.ceil(o.timeoutMs / 1000)) }),
    terminationGracePeriodSeconds: Math.ceil((o.killGraceMs ?? 5000) / 1000),
    ...(o.jobTemplate === undefined ? {} : { template: o.jobTemplate }),
  });
  const run = { id: ctx.flowRunId, flowName, parameters: ctx.parameters ?? {}, taskCount: 0 };
  const follower = new JobFollower(spec, ctx, run, name, marker);
  try {
    return await follower.run(job);
  } finally {
    await follower.close();
  }
}

/** The flow container's resources: `resources`, with `memoryMb` and `cpus` on top. */
function resourcesOf(o: KubernetesEnvironmentOptions): {
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
} {
  if (o.resources === undefined && o.memoryMb === undefined && o.cpus === undefined) return {};
  const requests = { ...o.resources?.requests };
  const limits = { ...o.resources?.limits };
  if (o.memoryMb !== undefined) {
    requests.memory = `${o.memoryMb}Mi`;
    limits.memory = `${o.memoryMb}Mi`;
  }
  if (o.cpus !== undefined) limits.cpu = String(o.cpus);
  return {
    resources: {
      ...(Object.keys(requests).length === 0 ? {} : { requests }),
      ...(Object.keys(limits).length === 0 ? {} : { limits }),
    },
  };
}

/** The Pod's extra variables: `env:NAME` references read from this process's environment. */
function resolveEnvMap(map: Readonly<Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(map)) {
    const resolved = resolveSecretReference(value);
    if (resolved !== undefined) out[name] = resolved;
  }
  return out;
}

/** Follows one Job from creation to deletion. */
class JobFollower {
  private final: State | undefined;
  private readonly tail: string[] = [];
  private readonly prefix: string;
  private watch: KubeWatch | undefined;
  private created = false;
  private cancelled = false;
  private cancelledAt = 0;
  private log: Readable | undefined;
  /** The Pod whose log is followed (once: a second Pod event does not follow twice). */
  private followingPod: string | undefined;
  private logDone: Promise<void> | undefined;
  private readonly logAbort = new AbortController();
  /** The last state of the Pod heard, and whether it was deleted. */
  private pod: KubePod | undefined;
  private podGone = false;
  /** The Job's first Pod: the run's (see onPod). */
  private podName: string | undefined;
  /** The Pod is being deleted (we looked at why), its API object was force-deleted, the Job was deleted. */
  private deleting = false;
  private forced = false;
  private jobDeleted = false;
  /** The Job's DeadlineExceeded message, when its deadline ended the run. */
  private deadline: string | undefined;
  /** Set when the Pod cannot start: the run's outcome, without waiting for the Pod. */
  private startFailure: JobRunOutcome | undefined;
  /** Since when, and why, the Pod has been unable to start (an image pull, no node). */
  private stuck: { since: number; message: string } | undefined;
  private readonly started = Date.now();
  private wake: () => void = () => {};

  constructor(
    private readonly spec: JobRunSpec,
    private readonly ctx: ExecuteContext,
    private readonly info: { -readonly [K in keyof FlowRunInfo]: FlowRunInfo[K] },
    private readonly name: string,
    marker: string,
  ) {
    this.prefix = eventLinePrefix(marker);
  }

  private get client(): KubeClient {
    return this.spec.client;
  }

  async run(job: KubeJob): Promise<JobRunOutcome> {
    const { namespace } = this.spec;
    await this.startWatch();
    await this.client.createJob(namespace, job);
    this.created = true;
    this.spec.onCreated?.({ namespace, name: this.name });
    const onAbort = () => void this.cancel();
    this.ctx.signal?.addEventListener("abort", onAbort, { once: true });
    let ticks = 0;
    const ticker = setInterval(() => {
      if (++ticks % RESYNC_TICKS === 0) void this.resync();
      if (!this.cancelled) this.checkStuck();
      // A Pod whose node does not answer is never confirmed gone: stop waiting after a while.
      else if (
        Date.now() - this.cancelledAt >
        (this.spec.options.killGraceMs ?? 5000) + CANCEL_SLACK_MS
      ) {
        this.podGone = true;
        this.wake();
      }
    }, 500);
    try {
      if (this.ctx.signal?.aborted) await this.cancel();
      while (!this.finished()) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        // The watch may end from the server's side (it does after a while): watch again.
        if (this.watchEnded && !this.finished()) await this.rewatch();
      }
    } finally {
      clearInterval(ticker);
      this.ctx.signal?.removeEventListener("abort", onAbort);
    }
    if (this.startFailure !== undefined && !this.cancelled) return this.startFailure;
    if (this.logDone !== undefined) {
      await Promise.race([this.logDone, delay(DRAIN_MS)]);
    }
    return this.outcome();
  }

  private watchEnded = false;
  private resyncing = false;

  private async startWatch(): Promise<void> {
    this.watchEnded = false;
    const watch = await this.client.watchPods(this.spec.namespace, `job-name=${this.name}`, (e) =>
      this.onPod(e.type, e.pod),
    );
    this.watch = watch;
    void watch.done.then(() => {
      if (this.watch !== watch) return;
      this.watchEnded = true;
      this.wake();
    });
  }

  private async rewatch(): Promise<void> {
    await this.startWatch();
    await this.resync();
  }

  /**
   * Reads the Job's Pods as they are now, as if the watch had told: a watch can stall or miss
   * its end under load, and a Pod that went while nobody watched is only seen missing here.
   */
  private async resync(): Promise<void> {
    if (this.resyncing || !this.created) return;
    this.resyncing = true;
    try {
      const pods = await this.client.listPods(this.spec.namespace, `job-name=${this.name}`);
      for (const pod of pods) this.onPod("MODIFIED", pod);
      if (this.podName !== undefined && !pods.some((p) => p.metadata?.name === this.podName)) {
        this.podGone = true;
        this.wake();
      }
    } catch {
      // The next tick tries again; the watch may still be telling.
    } finally {
      this.resyncing = false;
    }
  }

  /** The Pod ended (or went), or it cannot start, or we cancelled and it went. */
  private finished(): boolean {
    if (this.podGone) return true;
    // A cancel ends when the Pod is gone (deleted with the Job), not when its process exited.
    if (this.cancelled) return false;
    if (this.startFailure !== undefined) return true;
    const phase = this.pod?.status?.phase;
    return phase === "Succeeded" || phase === "Failed";
  }

  private onPod(type: string, pod: KubePod): void {
    const name = pod.metadata?.name ?? "";
    this.podName ??= name;
    if (name !== this.podName) {
      // The Job controller of 1.20 replaces a Pod deleted from outside (it counts no failure):
      // the run is this Job's first Pod only, and a second one is never wanted.
      if (type !== "DELETED") void this.stopJob(name);
      return;
    }
    if (type !== "DELETED" && olderThan(pod, this.pod)) return;
    this.pod = pod;
    if (type === "DELETED") this.podGone = true;
    const status = pod.status?.containerStatuses?.find((c) => c.name === FLOW_CONTAINER);
    if (!this.cancelled) this.checkStart(pod, status?.state?.waiting);
    if ((status?.state?.running || status?.state?.terminated) && this.followingPod === undefined) {
      this.followLog(name);
    }
    if (pod.metadata?.deletionTimestamp != null && !this.podGone) {
      // Being deleted: by our cancel, by the Job's deadline, or from outside.
      if (!this.cancelled && !this.deleting) {
        this.deleting = true;
        void this.onDeleting();
      }
      // Its process ended: the kubelet takes its time (~10 s here) to confirm the Pod gone,
      // which would hold the run; nothing of it is left to stop.
      if (status?.state?.terminated !== undefined && !this.forced) {
        this.forced = true;
        void this.client.deletePod(this.spec.namespace, name, 0).catch(() => {});
      }
    }
    this.wake();
  }

  /**
   * The Pod is being deleted and not by us: the Job's deadline passed (its status says
   * DeadlineExceeded), or someone deleted it. Then the Job goes at once, so that the Job
   * controller starts no second Pod of the run.
   */
  private async onDeleting(): Promise<void> {
    const deadline = await this.deadlineExceeded();
    if (deadline !== undefined) {
      this.deadline = deadline;
      return;
    }
    await this.stopJob();
  }

  /** Deletes the Job now (a second Pod, if named, with no grace: it must not run the flow). */
  private async stopJob(replacement?: string): Promise<void> {
    if (!this.jobDeleted) {
      this.jobDeleted = true;
      await this.client
        .deleteJob(this.spec.namespace, this.name, { propagationPolicy: "Background" })
        .catch(() => {});
    }
    if (replacement !== undefined) {
      await this.client.deletePod(this.spec.namespace, replacement, 0).catch(() => {});
    }
  }

  /**
   * A Pod that cannot start: at once for an invalid image name or a container that cannot be
   * made (a missing Secret or key); after startTimeoutMs for an image that does not pull or a
   * Pod no node takes (the kubelet retries; a registry or a node may come back).
   */
  private checkStart(pod: KubePod, waiting: { reason?: string; message?: string } | undefined) {
    const reason = waiting?.reason ?? "";
    const detail = waiting?.message ?? reason;
    const image = this.spec.image.image;
    let stuck: string | undefined;
    if (IMAGE_INVALID_REASONS.has(reason) || reason === "ErrImageNeverPull") {
      this.startFailure = failed(
        `image ${image} could not be pulled (${reason}): ${detail}`,
        "ImagePullFailed",
        this.started,
        false,
      );
    } else if (IMAGE_PULL_REASONS.has(reason)) {
      stuck = `image ${image} could not be pulled (${reason}): ${detail}`;
    } else if (CONFIG_REASONS.has(reason)) {
      this.startFailure = failed(
        `the Pod of Job ${this.name} could not start its container: ${detail}${secretHint(detail, this.spec.env.secrets)}`,
        "PodStartFailed",
        this.started,
        false,
      );
    } else {
      const unschedulable = pod.status?.conditions?.find(
        (c) => c.type === "PodScheduled" && c.status === "False" && c.reason === "Unschedulable",
      );
      if (unschedulable !== undefined) {
        stuck = `no node can run the Pod of Job ${this.name}: ${unschedulable.message ?? "Unschedulable"}`;
      }
    }
    if (stuck === undefined) this.stuck = undefined;
    else this.stuck = { since: this.stuck?.since ?? Date.now(), message: stuck };
    this.checkStuck();
  }

  /** Fails the run when the Pod has been unable to start for startTimeoutMs. */
  private checkStuck(): void {
    const limit = this.spec.options.startTimeoutMs ?? 60_000;
    if (this.stuck === undefined || Date.now() - this.stuck.since < limit) return;
    const image = this.stuck.message.startsWith("image ");
    this.startFailure = failed(
      `${this.stuck.message} (for ${limit} ms)`,
      image ? "ImagePullFailed" : "Unschedulable",
      this.started,
      false,
    );
    this.wake();
  }

  private followLog(pod: string): void {
    this.followingPod = pod;
    this.logDone = (async () => {
      try {
        this.log = await this.client.followLog(
          this.spec.namespace,
          pod,
          FLOW_CONTAINER,
          this.logAbort.signal,
        );
      } catch (error) {
        this.ctx.logger?.warn(
          `could not follow the log of Pod ${pod}: ${(error as Error).message}`,
          { flowRunId: this.ctx.flowRunId },
        );
        return;
      }
      await readLines(this.log, (line) => {
        const split = splitEventLine(line, this.prefix);
        if (split.output !== undefined) this.output(split.output, pod);
        if (split.event !== undefined) this.event(split.event);
      });
    })();
  }

  private output(line: string, pod: string): void {
    this.tail.push(line);
    if (this.tail.length > OUTPUT_TAIL) this.tail.shift();
    const record: LogRecord = {
      level: "info",
      message: line,
      time: Date.now(),
      flowRunId: this.ctx.flowRunId,
      fields: { stream: "stdout", pod },
    };
    this.ctx.reporter?.log?.(record);
    this.ctx.logger?.info(line, { flowRunId: this.ctx.flowRunId, stream: "stdout" });
  }

  private event(line: string): void {
    try {
      const parsed = parseEventLine(line);
      if (parsed.event === "flow" && isFinalFlowState(parsed.state.type))
        this.final = stateFromJSON(parsed.state);
      else if (this.ctx.reporter) forwardEvent(parsed, this.ctx.reporter, this.info);
    } catch (error) {
      this.ctx.logger?.warn(
        `ignored a malformed event from the flow-run Pod: ${(error as Error).message}`,
      );
    }
  }

  /** Deletes the Job: the kubelet sends SIGTERM, waits the grace, then SIGKILL. */
  private async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    this.cancelledAt = Date.now();
    const grace = Math.ceil((this.spec.options.killGraceMs ?? 5000) / 1000);
    try {
      await this.client.deleteJob(this.spec.namespace, this.name, {
        gracePeriodSeconds: grace,
        propagationPolicy: "Foreground",
      });
    } catch (error) {
      this.ctx.logger?.warn(`could not delete Job ${this.name}: ${(error as Error).message}`, {
        flowRunId: this.ctx.flowRunId,
      });
    }
    // A Pod not made yet: nothing will tell us it ended.
    if (this.pod === undefined) this.podGone = true;
    this.wake();
  }

  private async outcome(): Promise<JobRunOutcome> {
    return judgeJobRun({
      jobName: this.name,
      pod: this.pod,
      podGone: this.podGone,
      final: this.final,
      cancelled: this.cancelled,
      deadline: await this.deadlineExceeded(),
      tail: this.tail,
      started: this.started,
      ...(this.spec.options.memoryMb === undefined ? {} : { memoryMb: this.spec.options.memoryMb }),
      ...(this.spec.options.timeoutMs === undefined
        ? {}
        : { timeoutMs: this.spec.options.timeoutMs }),
    });
  }

  /** The Job's DeadlineExceeded message, if its deadline ended it (waiting a moment for the status). */
  private async deadlineExceeded(): Promise<string | undefined> {
    if (this.deadline !== undefined) return this.deadline;
    if (this.spec.options.timeoutMs === undefined || this.cancelled || !this.created)
      return undefined;
    const until = Date.now() + JOB_STATUS_WAIT_MS;
    for (;;) {
      const job = await this.client.readJob(this.spec.namespace, this.name).catch(() => undefined);
      const condition = job?.status?.conditions?.find(
        (c) => c.type === "Failed" && c.status === "True",
      );
      if (condition?.reason === "DeadlineExceeded") return condition.message ?? condition.reason;
      if (condition !== undefined || job?.status?.succeeded) return undefined;
      // Only a run still short of its deadline can have ended for another reason.
      const elapsed = Date.now() - this.started;
      if (elapsed < this.spec.options.timeoutMs || Date.now() > until) return undefined;
      await delay(200);
    }
  }

  /** Stops watching and reading, and deletes the Job (and its Pod) if it is still there. */
  async close(): Promise<void> {
    this.watch?.stop();
    this.logAbort.abort();
    if (!this.created) return;
    try {
      await this.client.deleteJob(this.spec.namespace, this.name, {
        gracePeriodSeconds: 0,
        propagationPolicy: "Background",
      });
    } catch (error) {
      this.ctx.logger?.warn(`could not delete Job ${this.name}: ${(error as Error).message}`, {
        flowRunId: this.ctx.flowRunId,
      });
    }
  }
}

/** A Pod status older than the one known (a list answered after a watch event): to ignore. */
function olderThan(pod: KubePod, known: KubePod | undefined): boolean {
  const a = Number(pod.metadata?.resourceVersion);
  const b = Number(known?.metadata?.resourceVersion);
  return Number.isInteger(a) && Number.isInteger(b) && a < b;
}

/** For a missing Secret, which variable refers to it. */
function secretHint(detail: string, secrets: Readonly<Record<string, string>>): string {
  for (const [variable, reference] of Object.entries(secrets)) {
    const [secret] = reference.slice("secret:".length).split("/");
    if (secret !== undefined && detail.includes(`"${secret}"`)) {
      return ` (the environment's env ${variable} refers to ${reference})`;
    }
  }
  return "";
}

function readLines(stream: Readable, onLine: (line: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on("line", onLine);
    lines.on("close", resolve);
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
