import { randomUUID } from "node:crypto";
import { isWeftError, WeftError } from "../../core/errors.ts";
import type { ExecutorSpec } from "../../core/executor-spec.ts";
import { resolveParameters } from "../../core/parameter.ts";
import type { ResultBackend } from "../../core/results.ts";
import type { State } from "../../core/states.ts";
import { loadFlowFile, pickFlow } from "../../engine/flow-loader.ts";
import { runFlow } from "../../engine/flow-runner.ts";
import { ConsoleReporter, elapsed } from "../../engine/reporters/console-reporter.ts";
import { StateCollector, teeReporter } from "../../engine/reporters/tee-reporter.ts";
import { createLocalResultBackend } from "../../engine/results/local-result-backend.ts";
import type { ResultSerializer } from "../../engine/results/result-serializers.ts";
import { createEnvironment } from "../../environments/registry.ts";
import { createLocalStorage } from "../../storage/local-storage.ts";
import { createMemoryStorage } from "../../storage/memory-storage.ts";
import type { CliContext } from "../context.ts";
import { CliError, EXIT, exitCodeFor, table } from "../output.ts";
import { parameterValues } from "../parameter-flags.ts";
import { localRunJson, type RunJson } from "../run-json.ts";
import { type FailedTask, failedTasksOf, strictState, summaryOf } from "../run-summary.ts";
import { type StorageFlags, storageFromFlags } from "../storage-flags.ts";
import { runRemote } from "./runs-command.ts";

/** `weft run`'s flags. */
export interface RunFlags extends StorageFlags {
  resultDir?: string;
  resultSerializer?: string;
  resume?: string;
  environment?: string;
  heapLimit?: number;
  timeout?: number;
  env: string[];
  flow?: string;
  param: string[];
  paramsJson?: string;
  paramsFile?: string;
  executor?: string;
  maxConcurrency?: number;
  maxWorkers?: number;
  approve: string[];
  json?: boolean;
  strict?: boolean;
  redis?: string;
  queue?: string;
  remote?: boolean;
  wait?: boolean;
  api: string;
  token?: string;
}

/** What `weft run` does, in a module of its own: only this command loads the engine and storages. */
export async function runAction(file: string, flags: RunFlags, cli: CliContext): Promise<void> {
  if (flags.remote) return runRemote(file, flags, cli);
  if (flags.wait) throw new CliError("--wait needs --remote", EXIT.usage);
  const flows = await loadFlowFile(file).catch((error: unknown) => {
    throw isWeftError(error) && error.code === "FLOW_MODULE_NOT_FOUND" && looksLikeFlowName(file)
      ? new WeftError(error.code, error.message, {
          cause: error,
          hint: `to run the flow registered as "${file}" on the server: weft run --remote ${file}`,
        })
      : error;
  });
  const flow = pickFlow(flows, flags.flow, file);
  const parameters = await parameterValues(flow.name, flow.parameters, flags, cli.stdin);
  const executor = executorFrom(flags);
  const console = new ConsoleReporter({
    stream: cli.stderr,
    live: cli.stderr.isTTY === true && !flags.json,
  });
  const controller = new AbortController();
  const stop = cli.onInterrupt(() => controller.abort());
  // With --json, stdout carries one JSON document: what tasks print goes to stderr meanwhile.
  const restoreStdout = flags.json ? cli.divertStdout() : () => {};
  try {
    if (flags.environment === undefined && flags.storage === undefined) {
      for (const [flag, value] of [
        ["--heap-limit", flags.heapLimit],
        ["--timeout", flags.timeout],
      ] as const) {
        if (value !== undefined)
          throw new CliError(`${flag} needs --environment subprocess`, EXIT.usage);
      }
      const result = resultBackendFrom(flags);
      const run = await runFlow(flow, {
        parameters,
        reporter: console,
        signal: controller.signal,
        approve: flags.approve,
        ...(executor === undefined ? {} : { executor }),
        ...(result === undefined ? {} : { result }),
        ...(flags.resume === undefined ? {} : { resume: flags.resume }),
        ...(flags.strict === undefined ? {} : { strict: flags.strict }),
      });
      if (!flags.json)
        cli.stderr.write(`flow run ${run.id}${result ? ` (results in ${result.name})` : ""}\n`);
      restoreStdout();
      const failed = failedTasksOf(run.taskStates);
      cli.stdout.write(
        flags.json
          ? `${JSON.stringify(runToJson(run.id, run.flowName, run.parameters, run.state, run.taskStates, failed, () => run.outputs))}\n`
          : taskTable(run.taskStates),
      );
      const summary = summaryOf(run.flowName, run.state, failed, false);
      if (!flags.json && summary !== undefined) cli.stderr.write(summary);
      cli.exitCode = exitCodeFor(run.state);
      return;
    }
    if (flags.resultDir !== undefined || flags.resume !== undefined) {
      throw new CliError(
        "--result-dir and --resume work without --environment; for runs through an environment, set the flow's result option in code",
        EXIT.usage,
      );
    }
    const kind = flags.environment ?? "local";
    if (kind === "distributed") {
      if (flags.redis === undefined || flags.redis === "")
        throw new CliError(
          "--environment distributed needs a Redis URL",
          EXIT.usage,
          "USAGE",
          "pass --redis redis://host:6379 or set WEFT_REDIS_URL",
        );
      // The environment reads it from env:WEFT_REDIS_URL, so that its JSON never holds the URL.
      process.env.WEFT_REDIS_URL = flags.redis;
    } else if (flags.queue !== undefined) {
      throw new CliError("--queue needs --environment distributed", EXIT.usage);
    }
    const environment = createEnvironment(kind, {
      queue: flags.queue,
      executor,
      heapLimitMb: flags.heapLimit,
      timeoutMs: flags.timeout,
      env: flags.env.length ? parseEnvPairs(flags.env) : undefined,
    });
    const storage =
      (await storageFromFlags(flags)) ??
      (kind === "local" ? createMemoryStorage() : createLocalStorage());
    if (flags.approve.length)
      throw new CliError("--approve works only without --environment", EXIT.usage);
    // Before anything is built or started: setup refuses an unfit storage (the environment's
    // guard checks the pairing) and checks what the environment needs (e.g. a live worker).
    await environment.setup(storage);
    const values = resolveParameters(flow.name, flow.parameters, parameters);
    const location = storage.addFlow(flow);
    await storage.build();
    const collector = new StateCollector();
    const flowRunId = randomUUID();
    const executed = await environment.execute(storage, location, {
      flowRunId,
      parameters: values,
      reporter: teeReporter(console, collector),
      signal: controller.signal,
    });
    await console.close();
    restoreStdout();
    const failed = failedTasksOf(collector.states, collector.failedChildren);
    // In another process the engine did not hear --strict: the run's state is made strict here.
    const strict = flags.strict ?? flow.options.strict ?? false;
    const state = strictState(executed.state, failed, strict);
    cli.stdout.write(
      flags.json
        ? `${JSON.stringify(runToJson(flowRunId, flow.name, values, state, collector.states, failed))}\n`
        : taskTable(collector.states),
    );
    const summary = summaryOf(flow.name, executed.state, failed, strict);
    if (!flags.json && summary !== undefined) cli.stderr.write(summary);
    if (!flags.json && !state.isSuccessful() && summary === undefined)
      cli.stderr.write(`flow ${flow.name} ${state.type}: ${state.message ?? ""}\n`);
    cli.exitCode = exitCodeFor(state);
  } finally {
    restoreStdout();
    stop();
  }
}

/** A word without a path separator or a module's extension: more likely a flow's name than a file. */
function looksLikeFlowName(file: string): boolean {
  return !/[\\/]/.test(file) && !/\.[cm]?[jt]sx?$/.test(file);
}

function resultBackendFrom(flags: RunFlags): ResultBackend | undefined {
  if (flags.resultDir === undefined) {
    if (flags.resultSerializer !== undefined)
      throw new CliError("--result-serializer needs --result-dir", EXIT.usage);
    return undefined;
  }
  return createLocalResultBackend({
    directory: flags.resultDir,
    ...(flags.resultSerializer === undefined
      ? {}
      : { serializer: flags.resultSerializer as ResultSerializer }),
  });
}

function parseEnvPairs(pairs: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0)
      throw new CliError(`--env ${JSON.stringify(pair)} must look like NAME=value`, EXIT.usage);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}

function executorFrom(flags: RunFlags): ExecutorSpec | undefined {
  if (flags.executor === undefined) {
    if (flags.maxConcurrency !== undefined || flags.maxWorkers !== undefined) {
      throw new CliError("--max-concurrency and --max-workers need --executor", EXIT.usage);
    }
    return undefined;
  }
  const spec: Record<string, unknown> = { type: flags.executor };
  if (flags.maxConcurrency !== undefined) spec.maxConcurrency = flags.maxConcurrency;
  if (flags.maxWorkers !== undefined) spec.maxWorkers = flags.maxWorkers;
  return spec as unknown as ExecutorSpec;
}

/**
 * The run as one JSON document (what `--json` prints): the shape of
 * `run-json.ts`, shared with `weft run --remote --wait --json` and `weft runs
 * inspect --json`; `outputs` when this process ran the flow itself.
 */
export function runToJson(
  flowRunId: string,
  flowName: string,
  parameters: Readonly<Record<string, unknown>>,
  state: State,
  taskStates: ReadonlyMap<string, State>,
  failedTasks: readonly FailedTask[] = failedTasksOf(taskStates),
  outputs?: () => unknown,
): RunJson {
  return localRunJson({
    id: flowRunId,
    flow: flowName,
    parameters,
    state,
    taskStates,
    failedTasks,
    ...(outputs === undefined ? {} : { outputs }),
  });
}

const ROW_LIMIT = 100;

/** One row per task, or one per task name when the flow is big. */
export function taskTable(states: ReadonlyMap<string, State>): string {
  if (states.size <= ROW_LIMIT) {
    const rows = [...states].map(([slug, s]) => [
      slug,
      s.type,
      duration(s),
      s.attempts > 1 ? String(s.attempts) : "",
      brief(s),
    ]);
    return table(["TASK", "STATE", "DURATION", "ATTEMPTS", "MESSAGE"], rows);
  }
  const groups = new Map<string, { count: number; byType: Map<string, number>; ms: number }>();
  for (const [slug, s] of states) {
    const name = slug.replace(/-\d+$/, "");
    let g = groups.get(name);
    if (g === undefined) {
      g = { count: 0, byType: new Map(), ms: 0 };
      groups.set(name, g);
    }
    g.count++;
    g.byType.set(s.type, (g.byType.get(s.type) ?? 0) + 1);
    g.ms += s.durationMs ?? 0;
  }
  const rows = [...groups].map(([name, g]) => [
    name,
    g.count.toLocaleString("en-US"),
    [...g.byType].map(([t, n]) => `${t} ${n.toLocaleString("en-US")}`).join(", "),
    elapsed(g.ms),
  ]);
  return table(["TASK", "COUNT", "STATES", "TOTAL DURATION"], rows);
}

function duration(s: State): string {
  return s.durationMs === undefined ? "" : elapsed(s.durationMs);
}

function brief(s: State): string {
  const m = s.message ?? "";
  return m.length > 100 ? `${m.slice(0, 97)}…` : m;
}
