import { randomUUID } from "node:crypto";
import { type Command, Option } from "commander";
import type { ExecutorSpec } from "../../core/executor-spec.ts";
import type { Flow } from "../../core/flow.ts";
import { checkPairing } from "../../core/flow.ts";
import { resolveParameters } from "../../core/parameter.ts";
import type { ResultBackend } from "../../core/results.ts";
import type { State } from "../../core/states.ts";
import { loadFlowFile, pickFlow } from "../../engine/flow-loader.ts";
import { ConsoleReporter, elapsed } from "../../engine/reporters/console-reporter.ts";
import { StateCollector, teeReporter } from "../../engine/reporters/tee-reporter.ts";
import { createLocalResultBackend } from "../../engine/results/local-result-backend.ts";
import type { ResultSerializer } from "../../engine/results/result-serializers.ts";
import { createEnvironment } from "../../environments/create-environment.ts";
import { createLocalStorage } from "../../storage/local-storage.ts";
import { createMemoryStorage } from "../../storage/memory-storage.ts";
import { type CliContext, collect, positiveInt } from "../context.ts";
import { CliError, EXIT, exitCodeFor, table } from "../output.ts";
import { parameterValues } from "../parameter-flags.ts";
import { addStorageFlags, type StorageFlags, storageFromFlags } from "../storage-flags.ts";
import { runRemote } from "./runs-command.ts";

interface RunFlags extends StorageFlags {
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
  executor?: string;
  maxConcurrency?: number;
  maxWorkers?: number;
  approve: string[];
  json?: boolean;
  redis?: string;
  queue?: string;
  remote?: boolean;
  wait?: boolean;
  api: string;
  token?: string;
}

/** `weft run <file>`: runs a flow from a TypeScript or JavaScript file in this process. */
export function registerRunCommand(program: Command, cli: CliContext): void {
  const command = program
    .command("run")
    .summary("run a flow from a file, here and now")
    .description(
      "Run a flow defined in a TypeScript or JavaScript file, with live progress, and print its task states. By default it runs in this process; with --environment it is stored (--storage, default local) and executed through that environment, e.g. in a fresh process.",
    )
    .argument(
      "<file>",
      "a .ts or .js file that exports flows (with --remote: a registered flow's name)",
    )
    .option("-f, --flow <name>", "which flow, when the file exports several")
    .option(
      "-p, --param <name=value>",
      "a parameter value (repeatable); numbers, booleans and JSON are parsed by the parameter's type",
      collect,
      [],
    )
    .option("--params-json <json>", "parameter values as one JSON object (--param wins)")
    .option(
      "-e, --executor <kind>",
      "serial | concurrent | worker-threads (default: the flow's, else concurrent)",
    )
    .option(
      "--max-concurrency <n>",
      "task runs in flight at once (concurrent, worker-threads)",
      positiveInt,
    )
    .option("--max-workers <n>", "threads in the pool (worker-threads)", positiveInt)
    .option("--approve <slug>", "approve a manual_only task to run (repeatable)", collect, [])
    .option(
      "--environment <kind>",
      "local | subprocess | distributed: run through an environment (stores the flow first)",
    )
    .addOption(
      new Option("--redis <url>", "distributed: the Redis URL of the workers").env(
        "WEFT_REDIS_URL",
      ),
    )
    .option("--queue <name>", "distributed: the queue of tasks without a queue:<name> tag")
    .option("--heap-limit <mb>", "subprocess: the child's heap limit in MB", positiveInt)
    .option(
      "--timeout <ms>",
      "subprocess: wall-clock limit of the whole run; the child's process tree is killed past it",
      positiveInt,
    )
    .option(
      "--env <name=value>",
      "subprocess: an environment variable for the child (repeatable)",
      collect,
      [],
    )
    .option(
      "--result-dir <dir>",
      "persist task results as files in this directory (checkpoints, caches, resume)",
    )
    .option("--result-serializer <kind>", "json | binary (Date, Map, Set, typed arrays, BigInt)")
    .option(
      "--resume <run id>",
      "resume an earlier run: tasks whose results it persisted are not run again",
    )
    .option(
      "--remote",
      "<file> is the name of a flow registered with the server: create a run there",
    )
    .option("--wait", "--remote: follow the run to its end; exit as a local run does")
    .addOption(
      new Option("--api <url>", "--remote: the weft API")
        .env("WEFT_API_URL")
        .default("http://127.0.0.1:4200"),
    )
    .addOption(
      new Option("--token <token>", "--remote: an API token with the agent scope").env(
        "WEFT_API_TOKEN",
      ),
    )
    .option("--json", "print one JSON document with the run's states on stdout");
  addStorageFlags(command, false)
    .addHelpText(
      "after",
      "\nExamples:\n  weft run examples/etl.ts\n  weft run examples/map.ts --param count=1000 --executor worker-threads\n  weft run examples/etl.ts --environment subprocess --storage local --heap-limit 512 --timeout 60000\n  weft run examples/map.ts --environment distributed --storage local --redis redis://127.0.0.1:6379\n  weft run --remote etl --param day=2026-01-01 --wait\n",
    )
    .action(async (file: string, flags: RunFlags) => {
      if (flags.remote) return runRemote(file, flags, cli);
      if (flags.wait) throw new CliError("--wait needs --remote", EXIT.usage);
      const flows = await loadFlowFile(file);
      const flow = pickFlow(flows, flags.flow, file);
      const parameters = parseParameters(flow, flags);
      const executor = executorFrom(flags);
      const console = new ConsoleReporter({
        stream: cli.stderr,
        live: cli.stderr.isTTY === true && !flags.json,
      });
      const controller = new AbortController();
      const stop = cli.onInterrupt(() => controller.abort());
      // With --json, stdout carries one JSON document: what tasks print goes to stderr meanwhile.
      const restoreStdout = flags.json ? divertStdout() : () => {};
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
          const run = await flow.run({
            parameters,
            reporter: console,
            signal: controller.signal,
            approve: flags.approve,
            ...(executor === undefined ? {} : { executor }),
            ...(result === undefined ? {} : { result }),
            ...(flags.resume === undefined ? {} : { resume: flags.resume }),
          });
          if (!flags.json)
            cli.stderr.write(`flow run ${run.id}${result ? ` (results in ${result.name})` : ""}\n`);
          restoreStdout();
          cli.stdout.write(
            flags.json
              ? `${JSON.stringify(runToJson(run.id, run.flowName, run.parameters, run.state, run.taskStates))}\n`
              : taskTable(run.taskStates),
          );
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
          storageFromFlags(flags) ??
          (kind === "local" ? createMemoryStorage() : createLocalStorage());
        // Refused up front, before anything is built or started.
        checkPairing(environment, storage);
        if (flags.approve.length)
          throw new CliError("--approve works only without --environment", EXIT.usage);
        const values = resolveParameters(flow.name, flow.parameters, parameters);
        const location = storage.addFlow(flow);
        await storage.build();
        await environment.setup(storage);
        const collector = new StateCollector();
        const flowRunId = randomUUID();
        const { state } = await environment.execute(storage, location, {
          flowRunId,
          parameters: values,
          reporter: teeReporter(console, collector),
          signal: controller.signal,
        });
        await console.close();
        restoreStdout();
        cli.stdout.write(
          flags.json
            ? `${JSON.stringify(runToJson(flowRunId, flow.name, values, state, collector.states))}\n`
            : taskTable(collector.states),
        );
        if (!flags.json && !state.isSuccessful())
          cli.stderr.write(`flow ${flow.name} ${state.type}: ${state.message ?? ""}\n`);
        cli.exitCode = exitCodeFor(state);
      } finally {
        restoreStdout();
        stop();
      }
    });
}

/** Sends this process's stdout writes to stderr until the returned function is called. */
function divertStdout(): () => void {
  const original = process.stdout.write;
  process.stdout.write = process.stderr.write.bind(process.stderr) as typeof process.stdout.write;
  return () => {
    process.stdout.write = original; // idempotent
  };
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

function parseParameters(flow: Flow<unknown>, flags: RunFlags): Record<string, unknown> {
  return parameterValues(flow.name, flow.parameters, flags);
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

/** The run as one JSON document (what `--json` prints). */
export function runToJson(
  flowRunId: string,
  flowName: string,
  parameters: Readonly<Record<string, unknown>>,
  state: State,
  taskStates: ReadonlyMap<string, State>,
): Record<string, unknown> {
  const tasks: Record<string, unknown>[] = [];
  for (const [slug, s] of taskStates) tasks.push({ slug, ...s.toJSON() });
  return { flowRunId, flow: flowName, parameters, state: state.toJSON(), tasks };
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
