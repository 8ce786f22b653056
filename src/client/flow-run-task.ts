// Flows of flows: `startFlowRun(name, …)` inside a flow builder adds a task that
// creates a run of another registered flow through the server's API (Prefect's
// StartFlowRun / create_flow_run), and optionally waits for its end.
//
// Decisions:
// - The API: the `api` option, else the run's own variables (`context().env`: an
//   agent gives every run WEFT_API_URL and WEFT_API_TOKEN; a subprocess run gets
//   them as its process's environment), else this process's WEFT_API_URL and
//   WEFT_API_TOKEN. None of them: the task fails at once (API_NOT_CONFIGURED).
// - Idempotent on retry: the default idempotency key is the parent run's id, the
//   task's slug and its map index, so a retried attempt, or the same run started
//   again after a crash, finds the child the first attempt made (`created: false`)
//   instead of making a second one. The server scopes keys to the child flow's group.
// - The parent/child link travels with the create (`parentRunId`, `parentTaskRun`),
//   so the server lists a run's children and `weft runs inspect` shows both ends.
// - Waiting polls the child's record (the light list query by id, not its detail
//   with every task run), doubling the interval up to `pollIntervalMs`; the task's
//   signal (timeout, cancellation) ends the wait. Cancelling the parent leaves the
//   child running: it is a run of its own.
// - A child that ends unsuccessful (Failed, TriggerFailed, TimedOut, Cancelled)
//   fails the task with `raiseOnFailure` (the default when waiting), naming the
//   child run and its message, without retries: a retry would find the same child.
import { createHash } from "node:crypto";
import { context, type TaskContext } from "../core/context.ts";
import { WeftError } from "../core/errors.ts";
import type { Ref } from "../core/graph.ts";
import { slugify } from "../core/names.ts";
import { State, type StateType } from "../core/states.ts";
import { type AnyTask, task } from "../core/task.ts";
import type { TaskOptions } from "../core/task-options.ts";
import type { CreateFlowRunRequest, FlowRunRecord } from "../serialization/api-schemas.ts";
import { LIMITS } from "../serialization/limits.ts";
import { type ApiClient, createApiClient } from "./api-client.ts";
import { taskRunKey } from "./api-reporter.ts";
import { retryTransient, sleep } from "./backoff.ts";

/** Where the weft server's API is. */
export interface FlowRunApi {
  readonly url: string;
  /** An API token with the `agent` scope (creating runs needs it on a server with tokens). */
  readonly token?: string;
}

/** Options of {@link startFlowRun}: the child run, the wait, and the task's own options. */
export interface StartFlowRunOptions
  extends Pick<TaskOptions, "retries" | "retryDelay" | "timeout" | "tags" | "trigger"> {
  /** The child run's parameters: values, or refs to upstream results. @default {} */
  parameters?: Readonly<Record<string, unknown>>;
  /** Labels an agent must carry to run the child, on top of its flow's. @default [] */
  labels?: readonly string[];
  /**
   * The child run's idempotency key: a second create with the same key returns
   * the first run. @default derived from the parent run's id, the task's slug and its map index
   */
  idempotencyKey?: string;
  /** Wait for the child run's final state. @default false */
  wait?: boolean;
  /**
   * With `wait`: fail the task when the child ends unsuccessful (Failed,
   * TimedOut, Cancelled, …), naming the child run. @default true
   */
  raiseOnFailure?: boolean;
  /** With `wait`: the longest pause between two looks at the child. @default 2000 */
  pollIntervalMs?: number;
  /** The task's name. @default `run-<flow slug>` */
  name?: string;
  /** The server's API, or a client. @default the run's WEFT_API_URL / WEFT_API_TOKEN */
  api?: FlowRunApi | ApiClient;
}

/** What a {@link startFlowRun} task returns: the child run, as created or as it ended. */
export interface ChildFlowRun {
  readonly id: string;
  readonly name: string;
  readonly flowName: string;
  readonly flowVersion: number;
  /** False when the idempotency key found a run made earlier (a retried task). */
  readonly created: boolean;
  /** Without `wait`: the state it was created in (Scheduled); with `wait`: its final state. */
  readonly state: StateType;
  readonly message?: string;
}

/** {@link startFlowRun}, and its mapped form. */
export interface StartFlowRun {
  (flowName: string, options?: StartFlowRunOptions): Ref<ChildFlowRun>;
  /**
   * One child run per item: each parameter is an array (or a ref to one) lined up
   * by index, or `unmapped(value)` for the same value in every child.
   * @example
   * const runs = startFlowRun.map("etl", { parameters: { day: days, mode: unmapped("full") } });
   */
  map(flowName: string, options?: StartFlowRunOptions): Ref<ChildFlowRun[]>;
}

/**
 * Adds a task that creates a run of the registered flow `flowName` through the
 * server's API, linked to this run as its parent, and resolves with the child
 * run ({@link ChildFlowRun}); with `wait`, when the child has finished. Inside a
 * flow builder only. See docs/flows-of-flows.md.
 * @example
 * const day = parameter("day", "2026-01-01");
 * const etl = startFlowRun("etl", { parameters: { day }, wait: true });
 * report(etl); // runs after the child run succeeded
 */
export const startFlowRun: StartFlowRun = Object.assign(
  (flowName: string, options: StartFlowRunOptions = {}): Ref<ChildFlowRun> => {
    const { t, args } = childRunTask(flowName, options);
    return t(...args) as Ref<ChildFlowRun>;
  },
  {
    map: (flowName: string, options: StartFlowRunOptions = {}): Ref<ChildFlowRun[]> => {
      const { t, args } = childRunTask(flowName, options);
      return t.map(...(args as Parameters<AnyTask["map"]>)) as Ref<ChildFlowRun[]>;
    },
  },
);

/** The task that creates the child, and its arguments: the parameters' values in key order. */
function childRunTask(
  flowName: string,
  options: StartFlowRunOptions,
): { t: AnyTask; args: unknown[] } {
  checkOptions(flowName, options);
  const parameters = options.parameters ?? {};
  const keys = Object.keys(parameters);
  const taskOptions: TaskOptions = {};
  for (const k of ["retries", "retryDelay", "timeout", "tags", "trigger"] as const) {
    if (options[k] !== undefined) (taskOptions as Record<string, unknown>)[k] = options[k];
  }
  const body = (...values: unknown[]): Promise<ChildFlowRun> => {
    const given: Record<string, unknown> = {};
    keys.forEach((k, i) => {
      given[k] = values[i];
    });
    return createChild(flowName, given, options, context());
  };
  const t = task(options.name ?? `run-${slugify(flowName)}`, body, taskOptions) as AnyTask;
  return { t, args: keys.map((k) => parameters[k]) };
}

function checkOptions(flowName: string, options: StartFlowRunOptions): void {
  const bad = (what: string) =>
    new WeftError("INVALID_TASK_OPTIONS", `startFlowRun(${JSON.stringify(flowName)}): ${what}`);
  if (typeof flowName !== "string" || flowName.length === 0) throw bad("needs a flow name");
  if (options.raiseOnFailure !== undefined && options.wait !== true) {
    throw bad("raiseOnFailure needs wait: true (without waiting, the child's end is not known)");
  }
  const poll = options.pollIntervalMs;
  if (poll !== undefined && !(Number.isFinite(poll) && poll > 0)) {
    throw bad(`pollIntervalMs must be a positive number, got ${poll}`);
  }
}

async function createChild(
  flowName: string,
  parameters: Record<string, unknown>,
  options: StartFlowRunOptions,
  ctx: TaskContext,
): Promise<ChildFlowRun> {
  const api = apiOf(options.api, ctx, flowName);
  const parentTaskRun = taskRunKey(ctx.taskSlug, ctx.mapIndex);
  const { run, created } = await retryTransient(
    () =>
      api.createFlowRun({
        flowName,
        parameters: parameters as CreateFlowRunRequest["parameters"],
        ...(options.labels === undefined ? {} : { labels: [...options.labels] }),
        idempotencyKey: options.idempotencyKey ?? defaultKey(ctx.flowRunId, parentTaskRun),
        parentRunId: ctx.flowRunId,
        parentTaskRun,
      }),
    { signal: ctx.signal, deadlineMs: 60_000 },
  );
  ctx.logger.info(
    `${created ? "created" : "found (its idempotency key made it earlier)"} flow run ${run.id} of "${flowName}"`,
  );
  if (options.wait !== true) return summary(run, created);
  const end = await waitForEnd(api, run, options.pollIntervalMs ?? 2000, ctx.signal);
  const state = new State(end.state.type);
  if (!state.isSuccessful() && options.raiseOnFailure !== false) {
    const cause = await firstFailedTask(api, end.id);
    // A retry would find this same child: the failure is final (a Fail signal).
    throw Object.assign(
      new WeftError(
        "CHILD_FLOW_RUN_FAILED",
        `flow run ${end.id} of "${flowName}" ended ${end.state.type}${end.state.message ? `: ${end.state.message}` : ""}${cause}`,
        { hint: `weft runs inspect ${end.id} shows why` },
      ),
      { signal: "fail" as const },
    );
  }
  return summary(end, created);
}

/** ` (slug: message)` of the child's first failed task run, to say why; "" when unknown. */
async function firstFailedTask(api: Pick<ApiClient, "getFlowRun">, id: string): Promise<string> {
  try {
    const detail = await api.getFlowRun(id);
    const failed = detail.taskRuns.find((t) => new State(t.state.type).isFailed());
    if (failed === undefined) return "";
    const at = taskRunKey(failed.slug, failed.mapIndex);
    return ` (${at}: ${failed.state.message ?? failed.state.type})`;
  } catch {
    return "";
  }
}

/** The API to create the child through, or API_NOT_CONFIGURED naming the ways to give one. */
function apiOf(
  option: FlowRunApi | ApiClient | undefined,
  ctx: TaskContext,
  flowName: string,
): Pick<ApiClient, "createFlowRun" | "listFlowRuns" | "getFlowRun"> {
  if (option !== undefined && "createFlowRun" in option) return option;
  const vars = option ?? fromVariables(ctx.env.WEFT_API_URL ? ctx.env : process.env);
  if (vars === undefined) {
    throw Object.assign(
      new WeftError(
        "API_NOT_CONFIGURED",
        `task ${ctx.taskSlug}: startFlowRun("${flowName}") creates the child run through the weft server's API, and this run has none`,
        {
          hint: "run the parent flow through an agent (it gives each run WEFT_API_URL and WEFT_API_TOKEN), set WEFT_API_URL (and WEFT_API_TOKEN), or pass api: { url, token }",
        },
      ),
      { signal: "fail" as const },
    );
  }
  return createApiClient(vars);
}

function fromVariables(env: Readonly<Record<string, string | undefined>>): FlowRunApi | undefined {
  const url = env.WEFT_API_URL;
  if (url === undefined || url === "") return undefined;
  const token = env.WEFT_API_TOKEN;
  return token === undefined || token === "" ? { url } : { url, token };
}

/** The parent run, the task and the child's index; hashed when it would pass the API's limit. */
function defaultKey(parentRunId: string, parentTaskRun: string): string {
  const key = `parent:${parentRunId}:${parentTaskRun}`;
  if (key.length <= LIMITS.name) return key;
  return `parent:${parentRunId}:${createHash("sha256").update(parentTaskRun).digest("hex")}`;
}

async function waitForEnd(
  api: Pick<ApiClient, "listFlowRuns">,
  run: FlowRunRecord,
  maxDelay: number,
  signal: AbortSignal,
): Promise<FlowRunRecord> {
  let current = run;
  let delay = Math.min(100, maxDelay);
  while (!new State(current.state.type).isFinished()) {
    await sleep(delay, signal);
    if (signal.aborted) throw signal.reason ?? new Error("the task was aborted");
    delay = Math.min(delay * 2, maxDelay);
    // The run's record alone (its detail carries every task run): the list, by full id.
    const page = await retryTransient(() => api.listFlowRuns({ idPrefix: run.id, limit: 1 }), {
      signal,
    });
    const found = page.items.find((r) => r.id === run.id);
    if (found === undefined) {
      throw new WeftError("FLOW_RUN_NOT_FOUND", `child flow run ${run.id} is gone from the server`);
    }
    current = found;
  }
  return current;
}

function summary(run: FlowRunRecord, created: boolean): ChildFlowRun {
  return {
    id: run.id,
    name: run.name,
    flowName: run.flowName,
    flowVersion: run.flowVersion,
    created,
    state: run.state.type as StateType,
    ...(run.state.message === undefined ? {} : { message: run.state.message }),
  };
}
