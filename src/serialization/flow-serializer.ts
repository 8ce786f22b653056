import { WeftError } from "../core/errors.ts";
import type { Flow, FlowModelOptions } from "../core/flow.ts";
import type { ParameterSpec } from "../core/graph.ts";
import { isPlainJson } from "../core/json.ts";
import { buildSchedule, type Schedule, type ScheduleJSON } from "../core/schedules.ts";
import { type ErrorData, State } from "../core/states.ts";
import { triggerLabel } from "../core/triggers.ts";
import { assertNoCredentials } from "./credentials.ts";
import { checkPairing, type FlowEnvironment, type FlowStorage } from "./deployment.ts";
import {
  flowSchema,
  SCHEMA_VERSIONS,
  type SerializedFlow,
  type SerializedParameter,
  type SerializedSchedule,
  type SerializedState,
  scheduleSchema,
  stateSchema,
} from "./schemas.ts";
import { parseStrict } from "./validate.ts";

/** Where a flow's code is kept and how its runs execute: the public flow options beside the model's. */
export interface FlowDeploymentOptions {
  /** Where the flow's code is kept for runs elsewhere (registration). */
  storage?: FlowStorage;
  /** How runs of the flow execute (registration). */
  environment?: FlowEnvironment;
}

/** A flow whose options may name its storage and environment (every flow the public `flow()` makes). */
export type DeployableFlow = Flow<unknown> & {
  readonly options: Readonly<FlowModelOptions<unknown> & FlowDeploymentOptions>;
};

/** Options of `flow.serialize()`. */
export interface SerializeOptions {
  /** Add the flow to its storage and build it, so that the output has a location. @default false */
  build?: boolean;
  /** Overrides the flow's storage. */
  storage?: FlowStorage;
  /** Overrides the flow's environment. */
  environment?: FlowEnvironment;
  /** Overrides the flow's schedule (`null` removes it). */
  schedule?: Schedule | null;
  /** Overrides the flow's labels. */
  labels?: readonly string[];
}

/** The storage and environment a flow's options name, if any. */
export function deploymentOf(flow: DeployableFlow): FlowDeploymentOptions {
  const { storage, environment } = flow.options;
  return {
    ...(storage === undefined ? {} : { storage }),
    ...(environment === undefined ? {} : { environment }),
  };
}

/** What a serialized flow carries beside its graph. */
export interface FlowDeployment {
  readonly storage?: FlowStorage | undefined;
  readonly environment?: FlowEnvironment | undefined;
  readonly location?: string | undefined;
  readonly schedule?: Schedule | null | undefined;
  readonly labels?: readonly string[] | undefined;
}

/** A flow's graph and deployment as versioned JSON, validated against the flow schema. */
export function serializeFlowGraph(
  flow: Flow<unknown>,
  deployment: FlowDeployment = {},
): SerializedFlow {
  const graph = flow.graph;
  const schedule =
    deployment.schedule === undefined ? flow.options.schedule : (deployment.schedule ?? undefined);
  const storage = deployment.storage;
  const environment = deployment.environment;
  if (storage !== undefined && environment !== undefined) checkPairing(environment, storage);
  if (environment?.retriesElsewhere) checkPersistedInputs(flow, environment.type);
  const labels = new Set<string>(deployment.labels ?? flow.options.labels ?? []);
  for (const label of storage?.labels ?? []) labels.add(label);
  for (const label of environment?.labels ?? []) labels.add(label);
  const json: SerializedFlow = {
    schemaVersion: SCHEMA_VERSIONS.flow,
    name: flow.name,
    ...(flow.options.description === undefined ? {} : { description: flow.options.description }),
    parameters: [...graph.parameters.values()].map((p) => serializeParameter(flow.name, p)),
    tasks: graph.nodes.map((node) => {
      const o = node.task.options;
      return {
        slug: node.slug,
        name: node.task.name,
        kind: node.task.kind,
        mapped: node.mapped,
        options: {
          retries: o.retries,
          retryDelay: typeof o.retryDelay === "function" ? "function" : o.retryDelay,
          ...(o.timeout === undefined ? {} : { timeout: o.timeout }),
          trigger:
            typeof o.trigger === "function" ? { custom: triggerLabel(o.trigger) } : o.trigger,
          skipOnUpstreamSkip: o.skipOnUpstreamSkip,
          ...(o.cacheFor === undefined ? {} : { cacheFor: o.cacheFor }),
          cacheKey: o.cacheKey !== undefined,
          tags: [...o.tags],
          ...(o.checkpoint === undefined ? {} : { checkpoint: o.checkpoint }),
          ...(o.cache === undefined ? {} : { cache: o.cache }),
        },
      };
    }),
    edges: [...graph.edges()],
    referenceTasks: graph.referenceNodes.map((i) => graph.nodes[i]!.slug),
    ...(schedule === undefined ? {} : { schedule: scheduleToJSON(schedule) }),
    ...(storage === undefined ? {} : { storage: storage.toJSON() }),
    ...(environment === undefined ? {} : { environment: environment.toJSON() }),
    ...(flow.options.result === undefined ? {} : { result: flow.options.result.toJSON() }),
    ...(deployment.location === undefined ? {} : { location: deployment.location }),
    labels: [...labels].sort(),
  };
  if (json.storage !== undefined) assertNoCredentials(json.storage, `flow "${flow.name}" storage`);
  if (json.environment !== undefined)
    assertNoCredentials(json.environment, `flow "${flow.name}" environment`);
  return parseStrict("flow", flowSchema, json, `flow "${flow.name}"`);
}

/**
 * Where a retry may run in another process, a task with retries or a cache must
 * be able to read its inputs there: every data upstream must persist its result.
 * Prefect only warned about this; weft refuses, naming the tasks.
 */
function checkPersistedInputs(flow: Flow<unknown>, environmentType: string): void {
  const graph = flow.graph;
  const hasBackend = flow.options.result !== undefined;
  const persisted = (i: number) => {
    const task = graph.nodes[i]!.task;
    return task.kind === "parameter" || (hasBackend && (task.options.checkpoint ?? true));
  };
  const problems: string[] = [];
  for (const node of graph.nodes) {
    const o = node.task.options;
    if (
      node.task.kind !== "task" ||
      (o.retries === 0 && o.cacheFor === undefined && o.cache === undefined)
    )
      continue;
    const after = new Set(node.afterEdges ?? []);
    const missing = node.upstream
      .filter((u) => !after.has(u) && !persisted(u))
      .map((u) => graph.nodes[u]!.slug);
    if (missing.length > 0) problems.push(`${node.slug} (inputs from ${missing.join(", ")})`);
  }
  if (problems.length > 0) {
    throw new WeftError(
      "RESULT_NOT_PERSISTED",
      `flow "${flow.name}": in the ${environmentType} environment a retry may run in another process, but these tasks retry or cache with inputs that are not persisted: ${problems.slice(0, 10).join("; ")}`,
      {
        hint: hasBackend
          ? "turn checkpoint back on for their upstream tasks"
          : "give the flow a result backend (flow option result)",
      },
    );
  }
}

function serializeParameter(flowName: string, p: ParameterSpec): SerializedParameter {
  if (p.defaultValue !== undefined && !isPlainJson(p.defaultValue)) {
    throw new WeftError(
      "NOT_SERIALIZABLE",
      `flow "${flowName}": the default value of parameter "${p.name}" is not plain JSON`,
      {
        hint: "use strings, finite numbers, booleans, null, arrays and plain objects as parameter defaults",
      },
    );
  }
  return {
    name: p.name,
    ...(p.defaultValue === undefined
      ? {}
      : { default: p.defaultValue as SerializedParameter["default"] }),
    required: p.required,
    ...(p.type === undefined ? {} : { type: p.type }),
    ...(p.description === undefined ? {} : { description: p.description }),
    validated: p.validate !== undefined,
  };
}

/**
 * `flow.serialize()`: the graph alone; with `build`, the flow is added to its
 * storage, the storage is built, and the storage JSON and location are included.
 */
async function serializeBuilt(
  flow: DeployableFlow,
  options: SerializeOptions,
): Promise<SerializedFlow> {
  const storage = options.storage ?? flow.options.storage;
  if (storage === undefined) {
    throw new WeftError("STORAGE_NOT_BUILT", `flow "${flow.name}" has no storage to build`, {
      hint: "set the flow's storage option, or pass serialize({ build: true, storage })",
    });
  }
  const environment = options.environment ?? flow.options.environment;
  // Refused before anything is bundled or uploaded.
  if (environment !== undefined) checkPairing(environment, storage);
  const location = storage.addFlow(flow);
  const built = await storage.build();
  return serializeFlowGraph(flow, {
    storage: built,
    environment: options.environment ?? flow.options.environment,
    location,
    schedule: options.schedule,
    labels: options.labels,
  });
}

/**
 * `flow.serialize()`: the graph with the flow's (or the options') storage,
 * environment, schedule and labels; with `build: true` a promise of the same
 * after the flow is added to its storage and the storage is built.
 */
export function serializeFlow(
  flow: DeployableFlow,
  options: SerializeOptions = {},
): SerializedFlow | Promise<SerializedFlow> {
  if (options.build === true) return serializeBuilt(flow, options);
  return serializeFlowGraph(flow, {
    storage: options.storage ?? flow.options.storage,
    environment: options.environment ?? flow.options.environment,
    schedule: options.schedule,
    labels: options.labels,
  });
}

/** Validates serialized flow JSON (strict; names the field that is wrong). */
export function parseSerializedFlow(json: unknown): SerializedFlow {
  return parseStrict("flow", flowSchema, json, "flow");
}

/** A schedule as versioned JSON. */
export function scheduleToJSON(schedule: Schedule): SerializedSchedule {
  return { schemaVersion: SCHEMA_VERSIONS.schedule, ...schedule.toJSON() } as SerializedSchedule;
}

/** Rebuilds a schedule from versioned JSON, validating it (an invalid cron expression is refused). */
export function scheduleFromJSON(json: unknown): Schedule {
  const { schemaVersion: _v, ...rest } = parseStrict("schedule", scheduleSchema, json);
  return buildSchedule(rest as ScheduleJSON);
}

/** A state as versioned JSON (its result included only when it is plain JSON). */
export function stateToJSON(state: State): SerializedState {
  const plain = state.toJSON() as Omit<SerializedState, "schemaVersion">;
  const result = state.result !== undefined && isPlainJson(state.result) ? state.result : undefined;
  return {
    schemaVersion: SCHEMA_VERSIONS.state,
    ...plain,
    ...(result === undefined ? {} : { result: result as SerializedState["result"] }),
  };
}

/** Rebuilds a State from versioned JSON. */
export function stateFromJSON(json: unknown): State {
  const s = parseStrict("state", stateSchema, json);
  const ms = (iso: string | undefined) => (iso === undefined ? undefined : Date.parse(iso));
  return new State(
    s.type,
    s.message,
    s.result,
    s.error as ErrorData | undefined,
    ms(s.startedAt),
    s.attempts ?? 0,
    ms(s.retryAt),
    undefined,
    Date.parse(s.timestamp),
    s.children,
    s.location,
  );
}
