import type { Command } from "commander";
import { WeftError } from "../../core/errors.ts";
import type { ExecutorSpec } from "../../core/executor-spec.ts";
import type { Flow, FlowRun } from "../../core/flow.ts";
import { parseParameterText } from "../../core/parameter.ts";
import type { State } from "../../core/states.ts";
import { loadFlowFile, pickFlow } from "../../engine/flow-loader.ts";
import { ConsoleReporter, elapsed } from "../../engine/reporters/console-reporter.ts";
import { type CliContext, collect, positiveInt } from "../context.ts";
import { CliError, EXIT, table } from "../output.ts";

interface RunFlags {
  flow?: string;
  param: string[];
  paramsJson?: string;
  executor?: string;
  maxConcurrency?: number;
  maxWorkers?: number;
  approve: string[];
  json?: boolean;
}

/** `weft run <file>`: runs a flow from a TypeScript or JavaScript file in this process. */
export function registerRunCommand(program: Command, cli: CliContext): void {
  program
    .command("run")
    .summary("run a flow from a file, here and now")
    .description(
      "Run a flow defined in a TypeScript or JavaScript file in this process, with live progress, and print its task states.",
    )
    .argument("<file>", "a .ts or .js file that exports flows")
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
    .option("--json", "print one JSON document with the run's states on stdout")
    .addHelpText(
      "after",
      "\nExamples:\n  weft run examples/etl.ts\n  weft run examples/map.ts --param count=1000 --executor worker-threads\n",
    )
    .action(async (file: string, flags: RunFlags) => {
      const flows = await loadFlowFile(file);
      const flow = pickFlow(flows, flags.flow, file);
      const parameters = parseParameters(flow, flags);
      const executor = executorFrom(flags);
      const reporter = new ConsoleReporter({
        stream: cli.stderr,
        live: cli.stderr.isTTY === true && !flags.json,
      });
      const controller = new AbortController();
      const stop = cli.onInterrupt(() => controller.abort());
      let run: FlowRun<unknown>;
      try {
        run = await flow.run({
          parameters,
          reporter,
          signal: controller.signal,
          approve: flags.approve,
          ...(executor === undefined ? {} : { executor }),
        });
      } finally {
        stop();
      }
      cli.stdout.write(flags.json ? `${JSON.stringify(runToJson(run))}\n` : taskTable(run));
      const type = run.state.type;
      cli.exitCode =
        type === "Success" ? EXIT.ok : type === "Cancelled" ? EXIT.interrupted : EXIT.failed;
    });
}

function parseParameters(flow: Flow<unknown>, flags: RunFlags): Record<string, unknown> {
  let values: Record<string, unknown> = {};
  if (flags.paramsJson !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(flags.paramsJson);
    } catch (error) {
      throw new CliError(
        `--params-json is not valid JSON: ${(error as Error).message}`,
        EXIT.usage,
      );
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new CliError("--params-json must be a JSON object of parameter values", EXIT.usage);
    }
    values = { ...(parsed as Record<string, unknown>) };
  }
  for (const pair of flags.param) {
    const eq = pair.indexOf("=");
    if (eq <= 0)
      throw new CliError(`--param ${JSON.stringify(pair)} must look like name=value`, EXIT.usage);
    const name = pair.slice(0, eq);
    const spec = flow.parameters.get(name);
    if (spec === undefined) {
      const known = [...flow.parameters.keys()];
      throw new WeftError("UNKNOWN_PARAMETER", `flow "${flow.name}" has no parameter "${name}"`, {
        hint: known.length
          ? `its parameters: ${known.join(", ")}`
          : "this flow takes no parameters",
      });
    }
    values[name] = parseParameterText(flow.name, spec, name, pair.slice(eq + 1));
  }
  return values;
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
export function runToJson(run: FlowRun<unknown>): Record<string, unknown> {
  const tasks: Record<string, unknown>[] = [];
  for (const [slug, state] of run.taskStates) tasks.push({ slug, ...state.toJSON() });
  return {
    flowRunId: run.id,
    flow: run.flowName,
    parameters: run.parameters,
    state: run.state.toJSON(),
    tasks,
  };
}

const ROW_LIMIT = 100;

/** One row per task, or one per task name when the flow is big. */
export function taskTable(run: FlowRun<unknown>): string {
  const states = run.taskStates;
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
