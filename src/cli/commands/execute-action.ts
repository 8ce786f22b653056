import { fstatSync, readdirSync, readFileSync } from "node:fs";
import { Socket } from "node:net";
import { WeftError } from "../../core/errors.ts";
import type { ExecutorSpec } from "../../core/executor-spec.ts";
import type { Reporter } from "../../core/reporter.ts";
import { resolveExecutorOptions } from "../../engine/executors/executor.ts";
import { canResume, type FlowRunner } from "../../engine/flow-runner.ts";
import { ConsoleReporter } from "../../engine/reporters/console-reporter.ts";
import { createEventWriter } from "../../serialization/run-events.ts";
import { storageFromJSON } from "../../storage/registry.ts";
import type { CliContext } from "../context.ts";
import { CliError, EXIT, exitCodeFor } from "../output.ts";

/** `weft execute`'s flags (each overrides its environment variable). */
export interface ExecuteFlags {
  location?: string;
  storage?: string;
  flowRunId?: string;
  paramsJson?: string;
}

function readParamsFile(file: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    throw new WeftError(
      "ENV_VAR_INVALID",
      `WEFT_PARAMETERS_FILE ${file} cannot be read: ${(error as Error).message}`,
    );
  }
}

/** What `weft execute` does, in a module of its own: only this command loads the engine and storages. */
export async function executeAction(flags: ExecuteFlags, cli: CliContext): Promise<void> {
  const env = process.env;
  const withParent = env.WEFT_EXIT_WITH_PARENT;
  if (withParent !== undefined && withParent !== "" && withParent !== "1") {
    throw new WeftError(
      "ENV_VAR_INVALID",
      `WEFT_EXIT_WITH_PARENT must be 1 (or unset), got ${JSON.stringify(withParent)}`,
    );
  }
  if (withParent === "1") exitWithParent();
  const location = flags.location ?? required(env.WEFT_FLOW_LOCATION, "WEFT_FLOW_LOCATION");
  const storageJson = parseJson(
    flags.storage ?? required(env.WEFT_STORAGE, "WEFT_STORAGE"),
    "WEFT_STORAGE",
  );
  // Large parameters come in a file (the subprocess environment writes one past 64 KiB).
  const paramsFile = flags.paramsJson === undefined ? env.WEFT_PARAMETERS_FILE : undefined;
  const paramsSource =
    paramsFile === undefined || paramsFile === "" ? "WEFT_PARAMETERS" : "WEFT_PARAMETERS_FILE";
  const paramsText =
    paramsSource === "WEFT_PARAMETERS_FILE"
      ? readParamsFile(paramsFile!)
      : (flags.paramsJson ?? env.WEFT_PARAMETERS);
  const parameters =
    paramsText === undefined || paramsText === "" ? {} : parseJson(paramsText, paramsSource);
  if (parameters === null || typeof parameters !== "object" || Array.isArray(parameters)) {
    throw new WeftError(
      "ENV_VAR_INVALID",
      `${paramsSource} must be a JSON object of parameter values`,
    );
  }
  const flowRunId = flags.flowRunId ?? env.WEFT_FLOW_RUN_ID;
  const executor = executorFrom(env.WEFT_EXECUTOR);
  const storage = storageFromJSON(storageJson);
  let runner: FlowRunner;
  try {
    runner = await storage.getRunner(location);
  } catch (error) {
    const code = (error as { code?: string }).code ?? "LOAD_FAILED";
    // A malformed location is bad input; otherwise the inputs were fine but the code could not be loaded.
    const bad = code === "STORAGE_LOCATION_INVALID" || code === "STORAGE_LOCATION_ESCAPE";
    const hint = (error as { hint?: string }).hint;
    const message = error instanceof Error ? error.message : String(error);
    throw new CliError(message, bad ? EXIT.usage : EXIT.failed, code, hint);
  }
  const controller = new AbortController();
  const stop = cli.onInterrupt(() => controller.abort());
  const events = eventsStream(env.WEFT_EVENTS_FD);
  const reporter: Reporter = events
    ? createEventWriter((line) => events.write(line))
    : new ConsoleReporter({ stream: cli.stderr, live: false });
  try {
    const run = await runner.run({
      parameters: parameters as Record<string, unknown>,
      reporter,
      signal: controller.signal,
      ...(flowRunId ? { flowRunId } : {}),
      ...(executor === undefined ? {} : { executor }),
      ...(env.WEFT_RESUME && canResume(runner.flow) ? { resume: env.WEFT_RESUME } : {}),
    });
    cli.exitCode = exitCodeFor(run.state);
  } finally {
    stop();
    if (events) await new Promise<void>((resolve) => events.end(resolve));
  }
}

function required(value: string | undefined, name: string): string {
  if (value === undefined || value === "") {
    throw new WeftError("ENV_VAR_INVALID", `${name} is not set`, {
      hint: "weft execute is started by agents and environments, which set it",
    });
  }
  return value;
}

function parseJson(text: string, name: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new WeftError(
      "ENV_VAR_INVALID",
      `${name} is not valid JSON: ${(error as Error).message}`,
    );
  }
}

function executorFrom(text: string | undefined): ExecutorSpec | undefined {
  if (text === undefined || text === "") return undefined;
  const spec = (
    text.startsWith("{") || text.startsWith('"') ? parseJson(text, "WEFT_EXECUTOR") : text
  ) as ExecutorSpec;
  try {
    resolveExecutorOptions(spec);
  } catch (error) {
    throw new WeftError("ENV_VAR_INVALID", `WEFT_EXECUTOR: ${(error as Error).message}`);
  }
  return spec;
}

/** The event channel to the parent: a pipe on descriptor WEFT_EVENTS_FD. */
function eventsStream(fd: string | undefined): Socket | undefined {
  if (fd === undefined || fd === "") return undefined;
  const n = Number(fd);
  if (!Number.isInteger(n) || n < 3) {
    throw new WeftError(
      "ENV_VAR_INVALID",
      `WEFT_EVENTS_FD must be a descriptor number of 3 or more, got ${JSON.stringify(fd)}`,
    );
  }
  try {
    const stat = fstatSync(n);
    if (!stat.isFIFO() && !stat.isSocket()) throw new Error("not a pipe or socket");
  } catch (error) {
    throw new WeftError(
      "ENV_VAR_INVALID",
      `WEFT_EVENTS_FD=${n} is not an open pipe: ${(error as Error).message}`,
      {
        hint: "WEFT_EVENTS_FD is set by the subprocess environment, which opens that pipe",
      },
    );
  }
  return new Socket({ fd: n, readable: false, writable: true });
}

/**
 * When stdin (held open by the parent) closes, the parent is gone: stop this
 * process and everything it started (its process group when it leads one,
 * else its descendants found in /proc).
 */
function exitWithParent(): void {
  process.stdin.on("error", () => {});
  process.stdin.on("close", () => {
    try {
      process.kill(-process.pid, "SIGKILL");
    } catch {
      for (const pid of descendants(process.pid)) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      process.exit(EXIT.failed);
    }
  });
  process.stdin.resume();
  // Listening must not keep the process alive by itself: when nothing else is left, the engine
  // must see the event loop empty (a task that never settles) and end the run.
  (process.stdin as { unref?: () => void }).unref?.();
}

/** Every descendant of `root`, from /proc (Linux); empty where /proc is not there. */
function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  let entries: string[];
  try {
    entries = readdirSync("/proc").filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  for (const entry of entries) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process ended while we looked
    }
  }
  const out: number[] = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}
