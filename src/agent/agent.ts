// The agent: a process that claims due runs from the server and deploys each one
// through the run's own storage and environment, rebuilt from the JSON the flow was
// registered with. It knows nothing else about the flow. Module storage (which imports
// a module from this machine by the name the registration gives) is refused unless the
// agent itself allows it, whatever the server allows.
//
// Loop: register (retrying with backoff while the server is unreachable), then claim
// up to the free slots with a long poll and deploy each claimed run. Each run gets an
// API reporter, a run heartbeat (which also notices a cancel) and an environment.
// Invariants and decisions:
// - One outcome channel: the environment's reporter carries progress only
//   (`progressOnly`); the final state is what `execute` resolves with, and this file
//   writes it once.
// - The agent heartbeat lists the runs it holds, so the server frees a claim whose
//   answer was lost on the way here.
// - A run that cannot be deployed is Failed, saying why; a run whose answer cannot be
//   read is Failed too, so neither is claimed again and again. A crashed flow-run
//   process gets no final state: heartbeats stop, and the server's run health
//   reschedules the run.
// - Stopping gives back runs claimed but not started, waits up to the grace period,
//   then leaves the rest to run health without writing their states (`abandoned`).
// - `concurrency` counts runs whose code executes: a run done executing whose final
//   writes await the server's answer frees its slot (at most `concurrency` of those
//   besides), so claims and execution overlap the server's work instead of waiting on it.
// - One log line a claim answer (at info), not one a run: at hundreds of runs a second,
//   a stderr write each costs the agent.
import { hostname } from "node:os";
import type { UnreadableClaim } from "../client/api-client.ts";
import { createApiReporter, type ReportingApi, taskRunKey } from "../client/api-reporter.ts";
import { createApiTaskGate, type TaskGateApi } from "../client/api-task-gate.ts";
import { retryTransient, sleep } from "../client/backoff.ts";
import { createRunWritesBatcher, type RunWritesApi } from "../client/run-writes-batcher.ts";
import { isWeftError } from "../core/errors.ts";
import type { Logger } from "../core/reporter.ts";
import { State, toErrorData } from "../core/states.ts";
import {
  type Environment,
  type EnvironmentHost,
  progressOnly,
} from "../environments/environment.ts";
import {
  environmentFromJSON,
  environmentRegistry,
  reapLeftovers,
} from "../environments/registry.ts";
import type {
  AgentHeartbeatResponse,
  AgentRecord,
  ClaimedRun,
  FlowRunDetail,
} from "../serialization/api-schemas.ts";
import { crashLogMessage } from "../serialization/crash-report.ts";
import { checkDeployment } from "../serialization/deployment.ts";
import type { SerializedState } from "../serialization/schemas.ts";
import { storageFromJSON, storageRegistry } from "../storage/registry.ts";
import type { Storage } from "../storage/storage.ts";

/** The part of the API an agent uses (the API client has it). */
export interface AgentApi extends ReportingApi, TaskGateApi {
  registerAgent(input: {
    name: string;
    labels: string[];
    concurrency: number;
  }): Promise<AgentRecord>;
  /**
   * `runs`: the runs the agent holds (deploying or executing), so the server frees the others
   * it claimed for it; with `runStates`, their heartbeats too, answering those being cancelled.
   */
  heartbeatAgent(
    id: string,
    runs?: readonly string[],
    options?: { runStates?: boolean },
  ): Promise<AgentHeartbeatResponse>;
  claimFlowRuns(
    agentId: string,
    options: {
      limit: number;
      waitMs: number;
      signal?: AbortSignal;
      /** A claimed run of the answer the client cannot read (the others are returned). */
      onUnreadable?: (claim: UnreadableClaim) => void;
    },
  ): Promise<ClaimedRun[]>;
  heartbeatFlowRun(id: string): Promise<{ state: SerializedState; version: number }>;
  getFlowRun(id: string): Promise<FlowRunDetail>;
  /** Writes of many runs in one request: when present, every run's reporter writes through one batch. */
  writeRuns?: RunWritesApi["writeRuns"];
}

/** How an agent runs. */
export interface AgentOptions {
  readonly api: AgentApi;
  /** Shown in the API and `weft runs inspect`. @default "agent-<host>" */
  readonly name?: string;
  /** A run goes only to an agent carrying all its labels. @default [] */
  readonly labels?: readonly string[];
  /** Runs executed at once. @default 4 */
  readonly concurrency?: number;
  /** The agent's and its runs' heartbeat period. @default 5000 */
  readonly heartbeatIntervalMs?: number;
  /** How long one claim request waits for a run to become due. @default 10000 */
  readonly claimWaitMs?: number;
  /** On stop, how long running runs may take to finish. @default 30000 */
  readonly stopGraceMs?: number;
  /** The agent's own messages (claims, deploys, retries). */
  readonly logger: Logger;
  /** Passed to every run's reporter. @default 100 */
  readonly flushIntervalMs?: number;
  /**
   * Run flows in module storage, which imports a module from this machine by the
   * path or package name their registration gives: anyone who may register
   * flows would choose code for this agent to import. @default false
   */
  readonly allowModuleStorage?: boolean;
  /**
   * What this host gives its runs' environments: the container engine and the host
   * directories containers may mount. The owner is the agent's name (containers carry it,
   * and the agent removes those an earlier agent of its name left, when it starts).
   * @default no mounts; the engine at WEFT_CONTAINER_HOST or the usual sockets
   */
  readonly host?: Omit<EnvironmentHost, "owner">;
  /**
   * Variables every run is given (ExecuteContext.env: `context().env` in process,
   * the environment of a flow-run process): the API's WEFT_API_URL and
   * WEFT_API_TOKEN, so a run's tasks can create runs (`startFlowRun`). @default {}
   */
  readonly runEnv?: Readonly<Record<string, string>>;
  /**
   * Rewrites each claimed run's environment JSON (undefined: none registered) before the agent
   * builds it: a Kubernetes agent runs every run as a Job (`asKubernetesEnvironment`). The flow's
   * registration is checked as registered; the rewritten environment's pairing with the storage
   * is checked at its setup. @default the run's own environment
   */
  readonly deployAs?: (
    environment: ClaimedRun["environment"],
  ) => NonNullable<ClaimedRun["environment"]>;
}

/** The variables that give a run the API an agent talks to (its {@link AgentOptions.runEnv}). */
export function apiVariables(url: string, token: string | undefined): Record<string, string> {
  return token === undefined || token === ""
    ? { WEFT_API_URL: url }
    : { WEFT_API_URL: url, WEFT_API_TOKEN: token };
}

/** A running agent. */
export interface Agent {
  /** Its id once registered. */
  readonly id: string | undefined;
  /** Runs it holds now: executing, or done and sending their last writes. */
  readonly active: number;
  /** Resolves when it stopped (after `stop()`), rejects only on a bug. */
  readonly done: Promise<void>;
  /**
   * Stops claiming, gives back claimed runs it has not started, waits up to the
   * grace period for running ones, then returns. Runs still going are left to
   * the server's run health, which reschedules them. Idempotent.
   */
  stop(): Promise<void>;
}

interface ActiveRun {
  readonly controller: AbortController;
  /** True until the run's code is done (its environment answered, or deploying failed). */
  executing: boolean;
  finished: Promise<void>;
  /** Hears that the server is cancelling the run (the agent heartbeat's answer). */
  cancelled: ((state: SerializedState, version: number) => void) | undefined;
  /** Set when the agent gives up on the run while stopping: its final state is not sent. */
  abandoned: boolean;
}

const DEFAULT_ENVIRONMENT = { type: "local", schemaVersion: 1, labels: [] };
/** The most runs one claim request may ask for (the API refuses more); more free slots claim again. */
const MAX_CLAIM = 100;
/** How long a busy agent gathers freed slots before it claims for them. */
const CLAIM_GATHER_MS = 2;

/**
 * Starts an agent: it registers (retrying while the server is unreachable or
 * refuses it), then long-polls claims and deploys each claimed run through the
 * run's own environment and storage, rebuilt from their JSON (PIN-7): it knows
 * nothing else about the flow.
 */
export function startAgent(options: AgentOptions): Agent {
  const api = options.api;
  const log = options.logger;
  const name = options.name ?? `agent-${hostname()}`;
  const labels = [...(options.labels ?? [])];
  const concurrency = options.concurrency ?? 4;
  const heartbeatMs = options.heartbeatIntervalMs ?? 5000;
  const claimBatch = Math.max(1, Math.floor(concurrency / 4));
  const stopping = new AbortController();
  /** Runs it holds: executing, or done executing and sending their last writes. */
  const active = new Map<string, ActiveRun>();
  let executing = 0;
  /**
   * Slots free to claim for. A run takes one while its code executes; once it is done, its last
   * writes (the final state) are on their way to the server and the slot goes to the next run,
   * so the server's answer to those writes never holds up new work. At most `concurrency` such
   * runs wait for their answers besides the executing ones.
   */
  const freeSlots = () => Math.min(concurrency - executing, 2 * concurrency - active.size);
  let id: string | undefined;
  let wake: (() => void) | undefined;
  const host: EnvironmentHost & { owner: string } = { ...options.host, owner: name };
  // Every run's flow-run states, task states and logs go out together: one request per batch.
  const writeRuns = api.writeRuns?.bind(api);
  const reporting: ReportingApi =
    writeRuns === undefined ? api : createRunWritesBatcher({ writeRuns });

  /** What an earlier agent of this name left (killed -9: its containers) goes first. */
  async function reap(): Promise<void> {
    const { removed, failed } = await reapLeftovers(host);
    for (const [kind, count] of Object.entries(removed)) {
      if (count > 0)
        log.warn(
          `agent ${name}: removed ${count} ${kind} run(s) an earlier agent of this name left`,
        );
    }
    for (const [kind, error] of Object.entries(failed)) {
      log.warn(`agent ${name}: could not reap ${kind} runs left behind: ${describe(error)}`);
    }
  }

  async function register(): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      try {
        const agent = await api.registerAgent({ name, labels, concurrency });
        log.info(`agent ${name} registered as ${agent.id} with labels [${labels.join(", ")}]`);
        return agent.id;
      } catch (error) {
        if (stopping.signal.aborted) throw error;
        const delay = Math.min(30_000, 250 * 2 ** Math.min(attempt - 1, 7));
        log.error(
          `agent ${name} cannot register: ${describe(error)}; retrying in ${Math.round(delay / 1000)} s`,
        );
        await sleep(delay, stopping.signal);
      }
    }
  }

  async function loop(): Promise<void> {
    try {
      await reap();
      id = await register();
    } catch {
      return;
    }
    const beat = setInterval(() => {
      // The runs it holds: a claim the server committed whose answer was lost is not among them.
      // One request beats for the agent and every run it holds, and says which are cancelled.
      api
        .heartbeatAgent(id!, [...active.keys()], { runStates: true })
        .then((answer) => {
          for (const c of answer.cancelling ?? [])
            active.get(c.id)?.cancelled?.(c.state, c.version);
        })
        .catch(async (error: unknown) => {
          if (isWeftError(error) && error.code === "AGENT_NOT_FOUND")
            id = await register().catch(() => id);
          else log.warn(`agent heartbeat failed: ${describe(error)}`);
        });
    }, heartbeatMs);
    beat.unref();
    let failures = 0;
    try {
      while (!stopping.signal.aborted) {
        const free = freeSlots();
        if (free <= 0) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          wake = undefined;
          // Claims in batches across runs: a busy agent whose runs end one by one claims
          // when a quarter of its slots are free, or 2 ms after the first one was, not
          // once per ended run (each claim is a request and a transaction).
          if (freeSlots() < claimBatch) {
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, CLAIM_GATHER_MS);
              wake = () => {
                if (freeSlots() >= claimBatch || stopping.signal.aborted) {
                  clearTimeout(timer);
                  resolve();
                }
              };
            });
            wake = undefined;
          }
          continue;
        }
        let claimed: ClaimedRun[];
        try {
          claimed = await api.claimFlowRuns(id, {
            limit: Math.min(free, MAX_CLAIM),
            waitMs: options.claimWaitMs ?? 10_000,
            signal: stopping.signal,
            onUnreadable: (claim) => {
              void failUnreadable(claim);
            },
          });
          failures = 0;
        } catch (error) {
          if (stopping.signal.aborted) break;
          failures++;
          if (isWeftError(error) && error.code === "AGENT_NOT_FOUND") id = await register();
          const delay = Math.min(30_000, 250 * 2 ** Math.min(failures - 1, 7));
          log.error(`claim failed: ${describe(error)}; retrying in ${Math.round(delay / 1000)} s`);
          await sleep(delay, stopping.signal);
          continue;
        }
        if (claimed.length > 0 && !stopping.signal.aborted)
          log.info(`claimed ${claimed.length} run(s): ${claimed.map((c) => c.run.id).join(", ")}`);
        for (const run of claimed) {
          if (stopping.signal.aborted) await giveBack(run);
          else deploy(run);
        }
      }
    } finally {
      clearInterval(beat);
    }
  }

  /**
   * A claimed run this agent cannot read is failed, saying why, so that it is
   * neither run nor left Submitted (nor claimed again and again); the other runs
   * of the answer go on.
   */
  async function failUnreadable(claim: UnreadableClaim): Promise<void> {
    const what = `this agent could not read the run's claim answer: ${claim.problem}`;
    log.error(`run ${claim.id ?? "(no readable id)"}: ${what}`);
    if (claim.id === undefined || claim.version === undefined) return;
    const state: SerializedState = {
      schemaVersion: 1,
      type: "Failed",
      message: `failed by agent ${name}: ${what}`,
      timestamp: new Date().toISOString(),
    };
    await api
      .setFlowRunState(claim.id, state, claim.version)
      .catch((error: unknown) =>
        log.warn(`run ${claim.id}: could not record that it was unreadable: ${describe(error)}`),
      );
  }

  /** A run claimed while stopping goes back to Scheduled at once, for another agent. */
  async function giveBack(claimed: ClaimedRun): Promise<void> {
    const state: SerializedState = {
      schemaVersion: 1,
      type: "Scheduled",
      message: `given back by agent ${name}, which is stopping`,
      timestamp: new Date().toISOString(),
    };
    await api
      .setFlowRunState(claimed.run.id, state, claimed.run.version)
      .catch((error: unknown) =>
        log.warn(`could not give back run ${claimed.run.id}: ${describe(error)}; run health will`),
      );
  }

  function deploy(claimed: ClaimedRun): void {
    const runId = claimed.run.id;
    const controller = new AbortController();
    const entry: ActiveRun = {
      controller,
      executing: true,
      abandoned: false,
      finished: Promise.resolve(),
      cancelled: undefined,
    };
    entry.finished = executeRun(claimed, controller, entry)
      .catch((error: unknown) => log.error(`run ${runId}: ${describe(error)}`))
      .finally(() => {
        doneExecuting(entry);
        active.delete(runId);
        // The waiter decides whether this is enough to go on (it clears `wake` when it does).
        wake?.();
      });
    active.set(runId, entry);
    executing++;
  }

  /** The run's code is done: its slot goes to the next run (see `freeSlots`). */
  function doneExecuting(entry: ActiveRun): void {
    if (!entry.executing) return;
    entry.executing = false;
    executing--;
    // The waiter decides whether this is enough to go on (it clears `wake` when it does).
    wake?.();
  }

  async function executeRun(
    claimed: ClaimedRun,
    controller: AbortController,
    entry: ActiveRun,
  ): Promise<void> {
    const abandoned = () => entry.abandoned;
    const { run } = claimed;
    log.debug(`run ${run.id} of flow ${claimed.flowName}: claimed (claim ${run.claimCount})`);
    // The claim answer carries what earlier claims recorded; an older server's does not.
    let taskRuns = claimed.taskRuns;
    if (taskRuns === undefined) {
      try {
        taskRuns = (await retryTransient(() => api.getFlowRun(run.id), { deadlineMs: 60_000 }))
          .taskRuns;
      } catch (error) {
        log.warn(
          `run ${run.id}: could not read its task runs (${describe(error)}); every task runs`,
        );
      }
    }
    const versions = new Map<string, number>();
    const succeeded = new Set<string>();
    for (const t of taskRuns ?? []) {
      const key = taskRunKey(t.slug, t.mapIndex);
      versions.set(key, t.version);
      if (new State(t.state.type).isSuccessful()) succeeded.add(key);
    }
    const restarted = taskRuns?.some((t) => t.state.type === "Success") ?? false;

    const reporter = createApiReporter({
      api: reporting,
      flowRunId: run.id,
      flowRunVersion: run.version,
      claim: run.claimCount,
      taskRunVersions: versions,
      succeededTaskRuns: succeeded,
      logger: log,
      ...(options.flushIntervalMs === undefined
        ? {}
        : { flushIntervalMs: options.flushIntervalMs }),
      onLost: () => controller.abort(new Error("the run was taken away from this agent")),
    });
    // One outcome channel: the environment's reporter carries the run's progress only; its
    // final state is what `execute` resolves with, written below (unless the run crashed).
    const progress = progressOnly(reporter);
    const info = {
      id: run.id,
      flowName: claimed.flowName,
      parameters: run.parameters,
      taskCount: 0,
    };
    // The run's heartbeat is the agent's (one request for every run it holds), which answers
    // the runs being cancelled.
    entry.cancelled = (state, version) => {
      // Cancelling is a change this run accepts: its final Cancelled must carry the new version.
      if (state.type === "Cancelling") reporter.adopt(version);
      controller.abort(new Error("the run was cancelled"));
    };

    let environment: Environment | undefined;
    const ctx = {
      flowRunId: run.id,
      parameters: run.parameters,
      reporter: progress,
      logger: log,
      signal: controller.signal,
      ...(options.runEnv === undefined ? {} : { env: options.runEnv }),
      // Concurrency limits by tag: the server hands out the slots, checked against this claim.
      taskGate: createApiTaskGate({ api, claim: run.claimCount, logger: log }),
      // A restarted run resumes itself (it kept what it reused under its own id); a run made by
      // POST /api/flow-runs/:id/resume resumes the run it names, with its approvals.
      ...(restarted
        ? { resume: run.id }
        : run.resumedFrom === undefined
          ? {}
          : { resume: run.resumedFrom }),
      ...(run.approved === undefined ? {} : { approve: run.approved }),
    };
    try {
      let storage: Storage;
      try {
        if (claimed.storage === undefined || claimed.location === undefined) {
          throw new Error(
            `flow ${claimed.flowName} was registered without storage and location: register it with \`weft register\``,
          );
        }
        // The server checked the same at registration; a server that allows module storage
        // does not make this agent import modules unless it allows them too.
        checkDeployment(
          {
            name: claimed.flowName,
            storage: claimed.storage,
            environment: claimed.environment,
            location: claimed.location,
          },
          {
            storage: storageRegistry,
            environment: environmentRegistry,
            allowModuleStorage: options.allowModuleStorage === true,
          },
        );
        storage = storageFromJSON(claimed.storage);
        environment = environmentFromJSON(
          options.deployAs === undefined
            ? (claimed.environment ?? DEFAULT_ENVIRONMENT)
            : options.deployAs(claimed.environment),
        );
        await environment.setup(storage, host);
      } catch (error) {
        const data = toErrorData(error);
        log.error(`run ${run.id}: deploy failed: ${data.message}`);
        reporter.flowState(
          info,
          new State("Failed", `deploy failed: ${data.message}`, undefined, data),
        );
        doneExecuting(entry);
        return;
      }
      const result = await environment.execute(storage, claimed.location, ctx);
      doneExecuting(entry);
      if (abandoned()) return;
      if (result.crashed) {
        // No final state: heartbeats stop with this run (the agent's list drops it), and run
        // health reschedules the run.
        entry.cancelled = undefined;
        const why = crashLogMessage(result.state.message ?? result.state.type);
        log.warn(`run ${run.id}: ${why}`);
        // Its logs keep why, for whoever reads the run (its final state will be run health's).
        reporter.log({ level: "error", message: why, time: Date.now(), flowRunId: run.id });
        await reporter.flush();
        return;
      }
      reporter.flowState(info, result.state);
    } finally {
      entry.cancelled = undefined;
      if (!abandoned()) await reporter.close();
      await environment
        ?.teardown?.(ctx)
        .catch((error: unknown) => log.warn(`run ${run.id}: teardown failed: ${describe(error)}`));
    }
  }

  const done = loop();

  return {
    get id() {
      return id;
    },
    get active() {
      return active.size;
    },
    done: done.then(async () => {
      await Promise.all([...active.values()].map((r) => r.finished));
    }),
    async stop() {
      if (!stopping.signal.aborted) {
        log.info(`agent ${name} stopping: waiting for ${active.size} run(s)`);
        stopping.abort();
        wake?.();
      }
      await done;
      const grace = options.stopGraceMs ?? 30_000;
      const all = Promise.all([...active.values()].map((r) => r.finished));
      // The grace timer ends with the runs: a pending one would keep the process alive for it.
      const graceOver = new AbortController();
      const timedOut = await Promise.race([
        all.then(() => false),
        sleep(grace, graceOver.signal).then(() => !graceOver.signal.aborted),
      ]);
      graceOver.abort();
      if (timedOut) {
        log.warn(
          `agent ${name}: ${active.size} run(s) still running after ${grace} ms; leaving them to the server's run health`,
        );
        for (const r of active.values()) r.abandoned = true;
      }
    },
  };
}

function describe(error: unknown): string {
  const data = toErrorData(error);
  return data.code === undefined ? data.message : `${data.message} (${data.code})`;
}
