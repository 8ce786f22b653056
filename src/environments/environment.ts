// The contract of an environment (how a flow run executes), and the one wrapper every
// environment runs its body in.
//
// One outcome channel: `execute` resolves with the run's final state (ExecuteResult), and
// that is the only place callers that act on the outcome (the agent, which writes it to the
// server) take it from. An environment's body never reports a final flow state itself: the
// engine's final report and a flow-run process's final event are taken out of the stream
// by `withHooks`, the body returns the state, and `withHooks` reports that same state to
// `ctx.reporter` once, after every task state and before onExit. So an observer (the
// console, a test's recording reporter) hears exactly one final state, equal to the one
// `execute` resolves with, whether the flow ran, its process died, or it never started.
// `ctx.reporter` is never closed by an environment: whoever made it closes it.

import type { WeftError } from "../core/errors.ts";
import type { ExecutorSpec } from "../core/executor-spec.ts";
import type { FlowRunInfo, Logger, Reporter } from "../core/reporter.ts";
import { State, type StateType, toErrorData } from "../core/states.ts";
import type { TaskGate } from "../core/task-gate.ts";
import type { FlowEnvironment, StorageNeed } from "../serialization/deployment.ts";
import type { WireReporter } from "../serialization/flow-run-protocol.ts";
import type { RegistryEntry } from "../serialization/registry.ts";
import { ENVIRONMENT_TYPES } from "../serialization/schemas.ts";
import type { Storage } from "../storage/storage.ts";

/** The environment kinds weft ships (defined beside the schemas, where the server checks them too). */
export { ENVIRONMENT_TYPES };
/** One of {@link ENVIRONMENT_TYPES}. */
export type EnvironmentType = (typeof ENVIRONMENT_TYPES)[number];

/** An environment as JSON: its kind, schema version and settings (pure configuration). */
export interface SerializedEnvironment {
  readonly type: string;
  readonly schemaVersion: number;
  readonly [setting: string]: unknown;
}

/** What every environment of a kind needs and does, known from its type alone. */
export interface EnvironmentCapabilities {
  /** What it needs of a storage (every environment of the kind has this `storageNeeds`). */
  readonly storageNeeds: StorageNeed;
  /** A task's retry may run in another process than its first attempt. */
  readonly retriesElsewhere: boolean;
}

/** Loose options from command-line flags (`--executor`, `--heap-limit`, `--timeout`, `--env`, `--queue`). */
export interface EnvironmentFlagOptions {
  executor?: ExecutorSpec | undefined;
  heapLimitMb?: number | undefined;
  timeoutMs?: number | undefined;
  env?: Record<string, string> | undefined;
  labels?: string[] | undefined;
  /** distributed: the queue of untagged tasks. */
  queue?: string | undefined;
  /** distributed: task runs in flight at once. */
  maxInFlight?: number | undefined;
}

/**
 * An environment kind: everything weft knows of it, in the kind's own file
 * (type, JSON schema and constructor, constructor from command-line options,
 * capabilities). Adding a kind is that file and one line in `registry.ts`.
 */
export type EnvironmentKind<J = never> = RegistryEntry<
  Environment,
  J,
  EnvironmentCapabilities,
  EnvironmentFlagOptions
> & {
  /**
   * The kind's own words for an unfit storage (the runtime guard, environment-guard.ts,
   * refuses it at setup): given the storage and the generic refusal, the error to throw.
   * @default the generic refusal (STORAGE_NOT_SHAREABLE naming both)
   */
  readonly refusePairing?: (storage: Storage, refused: WeftError) => WeftError;
  /**
   * Removes what runs of this kind left on this host when the process that started them died
   * (a container environment's containers labelled with `host.owner`); answers how many it
   * removed. An agent calls every kind's `reap` when it starts. @default nothing to reap
   */
  readonly reap?: (host: EnvironmentHost & { readonly owner: string }) => Promise<number>;
};

/**
 * What the process that runs environments (an agent, `weft run`) says about itself and
 * allows: settings of the host, never of the flow, so they do not travel in its JSON.
 */
export interface EnvironmentHost {
  /** Who starts the runs (an agent's name): resources are labelled with it for reaping. @default `pid-<pid>` */
  readonly owner?: string;
  /** Host directories runs may mount (an agent's --allow-mount); any other mount is refused. @default none */
  readonly allowMounts?: readonly string[];
  /** The container engine's address. @default WEFT_CONTAINER_HOST, else Docker's and Podman's usual sockets */
  readonly containerHost?: string;
  /**
   * The Kubernetes cluster runs go to and its defaults (an agent's --kubeconfig, --context,
   * --namespace, --image): the credentials win over a flow's `kubeconfig`/`context`, the
   * namespace and image fill in what a flow's kubernetes environment lacks. @default none
   */
  readonly kubernetes?: KubernetesHost;
}

/** An agent's Kubernetes settings (see {@link EnvironmentHost.kubernetes}). */
export interface KubernetesHost {
  /** A kubeconfig file. @default in-cluster when KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG, else ~/.kube/config */
  readonly kubeconfig?: string | undefined;
  /** A context of the kubeconfig. @default its current context */
  readonly context?: string | undefined;
  /** Use these credentials even when neither kubeconfig nor context is given (the default ones). */
  readonly inCluster?: boolean | undefined;
  /** The namespace of runs whose environment names none; also where reaping looks. @default "default" (reaping: every namespace) */
  readonly namespace?: string | undefined;
  /** The image of runs whose environment and storage name none. @default none */
  readonly image?: string | undefined;
}

/** The options of `common` (executor, labels) that every kind takes from flags. */
export function commonFlagOptions(options: EnvironmentFlagOptions): {
  executor?: ExecutorSpec;
  labels?: string[];
} {
  return {
    ...(options.executor === undefined ? {} : { executor: options.executor }),
    ...(options.labels === undefined ? {} : { labels: options.labels }),
  };
}

/** What one execution is about. */
export interface ExecuteContext {
  readonly flowRunId: string;
  readonly parameters?: Readonly<Record<string, unknown>>;
  /**
   * Hears the run's progress (task states, logs, Running) and then, once, its final state:
   * the one `execute` resolves with. The environment never closes it. A reporter that takes
   * wire states (WireReporter) gets a flow-run process's events as data.
   */
  readonly reporter?: Reporter;
  /** Receives the environment's own messages (and a child's stray output). */
  readonly logger?: Logger;
  /** Cancels the run. */
  readonly signal?: AbortSignal;
  /** Variables for flow-run processes (e.g. WEFT_API_URL, WEFT_API_TOKEN). */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * A restarted run: the id of the run whose persisted results may be reused.
   * Tasks whose results can be read back are not run again; ignored (every task
   * runs) when the flow persists no results under its run id.
   */
  readonly resume?: string;
  /**
   * Task slugs approved for this run (`manual_only` tasks, and tasks that raise
   * `Pause`): they run instead of waiting. Passed to the run like `resume`.
   */
  readonly approve?: readonly string[];
  /**
   * Concurrency limits by tag: the gate task runs carrying tags wait at (an
   * agent's asks the server). Every environment passes it to the run: in this
   * process as it is, to a `weft execute` child through the flow-run protocol
   * (serialization/flow-run-gate.ts).
   */
  readonly taskGate?: TaskGate;
}

/** How an execution ended: the run's one outcome channel. */
export interface ExecuteResult {
  /** The flow run's final state (what acts on the outcome reads it here, not from a reporter). */
  readonly state: State;
  /**
   * True when the flow-run process died without saying how the run ended
   * (killed by a signal, out of memory): the run did not finish, it was
   * interrupted, and may be started again.
   */
  readonly crashed?: boolean;
}

/** Hooks around an execution; code-only (they do not travel with the JSON). */
export interface EnvironmentHooks {
  /** Runs before the flow; if it throws, the run fails with "onStart hook failed: …" and the flow does not start. */
  onStart?: (ctx: ExecuteContext) => void | Promise<void>;
  /** Runs after the flow, always; it cannot change the final state (its errors are logged). */
  onExit?: (ctx: ExecuteContext, state: State) => void | Promise<void>;
}

/**
 * How a flow run executes (PIN-7), independent of where its code is stored.
 * Pure configuration: the JSON registered with the server is the only copy.
 *
 * Contract change from ARCHITECTURE.md: `execute` resolves with the final
 * state, so that callers (agents, `weft run`) need not infer it from events.
 */
export interface Environment extends FlowEnvironment {
  readonly type: string;
  /** Agents must carry all of these labels. */
  readonly labels: string[];
  readonly storageNeeds: StorageNeed;
  /**
   * Provisions what the environment needs and checks that `storage` fits; `host` says what
   * the host running it allows (mounts) and who it is (for labels).
   */
  setup(storage: Storage, host?: EnvironmentHost): Promise<void>;
  /** Runs one flow run of the flow at `location` in `storage`. */
  execute(storage: Storage, location: string, ctx: ExecuteContext): Promise<ExecuteResult>;
  /** Reaps what `execute` left behind (weft's addition to PIN-7). Idempotent. */
  teardown?(ctx: ExecuteContext): Promise<void>;
  toJSON(): SerializedEnvironment;
}

/**
 * True for the flow states that end a run's reporting (Running and Cancelling are progress;
 * every other flow state a run reports is its outcome).
 */
export function isFinalFlowState(type: StateType): boolean {
  return type !== "Running" && type !== "Cancelling";
}

/**
 * A view of `reporter` that passes on a run's progress (task states, logs, Running and
 * Cancelling) and keeps back its final flow state, which reaches the reporter from the
 * outcome instead. It passes the wire-state capability on, and never closes `reporter`.
 * `heard` receives the run info of every flow state, final ones included.
 */
export function progressOnly(
  reporter: Reporter,
  heard: (run: FlowRunInfo) => void = () => {},
): Reporter {
  const view: Reporter & Partial<WireReporter> = {
    flowState(run, state) {
      heard(run);
      if (!isFinalFlowState(state.type)) reporter.flowState?.(run, state);
    },
  };
  if (reporter.taskState) view.taskState = reporter.taskState.bind(reporter);
  if (reporter.log) view.log = reporter.log.bind(reporter);
  const wire = reporter as Partial<WireReporter>;
  if (wire.wireTaskState && wire.wireFlowState) {
    view.wireTaskState = wire.wireTaskState.bind(reporter);
    const flowState = wire.wireFlowState.bind(reporter);
    view.wireFlowState = (run, state) => {
      heard(run);
      if (!isFinalFlowState(state.type)) flowState(run, state);
    };
  }
  return view;
}

/**
 * Runs `body` between the hooks: a failing onStart fails the run with a distinct
 * message (the body never starts); onExit always runs and cannot change the state.
 * The body gets `ctx` with a {@link progressOnly} reporter and returns the final state,
 * which is reported here, once (see the top of this file).
 */
export async function withHooks(
  hooks: EnvironmentHooks,
  ctx: ExecuteContext,
  flowName: string,
  body: (ctx: ExecuteContext) => Promise<State>,
): Promise<ExecuteResult> {
  const reporter = ctx.reporter;
  // What the run told its reporter about itself (the task count); until then, what is known here.
  let info: FlowRunInfo = {
    id: ctx.flowRunId,
    flowName,
    parameters: ctx.parameters ?? {},
    taskCount: 0,
  };
  const inner: ExecuteContext =
    reporter === undefined
      ? ctx
      : {
          ...ctx,
          reporter: progressOnly(reporter, (run) => {
            info = run;
          }),
        };
  let state: State;
  try {
    await hooks.onStart?.(ctx);
  } catch (error) {
    const data = toErrorData(error);
    state = new State("Failed", `onStart hook failed: ${data.message}`, undefined, data);
    reporter?.flowState?.(info, state);
    await runOnExit(hooks, ctx, state);
    return { state };
  }
  try {
    state = await body(inner);
  } catch (error) {
    const data = toErrorData(error);
    state = new State("Failed", data.message, undefined, data);
  }
  reporter?.flowState?.(info, state);
  await runOnExit(hooks, ctx, state);
  return { state };
}

async function runOnExit(
  hooks: EnvironmentHooks,
  ctx: ExecuteContext,
  state: State,
): Promise<void> {
  try {
    await hooks.onExit?.(ctx, state);
  } catch (error) {
    ctx.logger?.error(
      `onExit hook failed (the run keeps its state ${state.type}): ${toErrorData(error).message}`,
      {
        flowRunId: ctx.flowRunId,
      },
    );
  }
}
