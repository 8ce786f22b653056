import { fstatSync, readdirSync, readFileSync } from "node:fs";
import { Socket } from "node:net";
import { WeftError } from "../../core/errors.ts";
import type { ExecutorSpec } from "../../core/executor-spec.ts";
import type { Reporter } from "../../core/reporter.ts";
import type { TaskGate } from "../../core/task-gate.ts";
import { resolveExecutorOptions } from "../../engine/executors/executor.ts";
import { canResume, type FlowRunner } from "../../engine/flow-runner.ts";
import { ConsoleReporter } from "../../engine/reporters/console-reporter.ts";
import {
  createEventWriter,
  eventLinePrefix,
  readFlowRunEnv,
} from "../../serialization/flow-run-protocol.ts";
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

/** What `weft execute` does, in a module of its own: only this command loads the engine and storages. */
export async function executeAction(flags: ExecuteFlags, cli: CliContext): Promise<void> {
  // Flags override their variables; the protocol module reads and checks them all.
  const settings = readFlowRunEnv({
    ...process.env,
    ...(flags.location === undefined ? {} : { WEFT_FLOW_LOCATION: flags.location }),
    ...(flags.storage === undefined ? {} : { WEFT_STORAGE: flags.storage }),
    ...(flags.flowRunId === undefined ? {} : { WEFT_FLOW_RUN_ID: flags.flowRunId }),
    // --params-json wins over a parameters file as well.
    ...(flags.paramsJson === undefined
      ? {}
      : { WEFT_PARAMETERS: flags.paramsJson, WEFT_PARAMETERS_FILE: undefined }),
  });
  if (settings.exitWithParent) exitWithParent();
  const { location, parameters, flowRunId } = settings;
  const executor = executorFrom(settings.executor);
  const storageJson = settings.storage;
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
  const events = settings.eventsFd === undefined ? undefined : eventsStream(settings.eventsFd);
  const marker = settings.eventsMarker;
  // Without a descriptor (in a container), events go to stdout behind the run's marker, one
  // write per line so that a task's own output never splits one.
  const prefix = marker === undefined ? undefined : eventLinePrefix(marker);
  const reporter: Reporter = events
    ? createEventWriter((line) => events.write(line))
    : prefix !== undefined
      ? createEventWriter((line) => cli.stdout.write(prefix + line))
      : new ConsoleReporter({ stream: cli.stderr, live: false });
  // Concurrency limits: the parent holds the run's gate and answers on stdin.
  // In a container the requests go out as marked lines on stdout, like every event.
  const sendGate = events
    ? (line: string) => events.write(line)
    : prefix !== undefined
      ? (line: string) => cli.stdout.write(prefix + line)
      : undefined;
  const taskGate =
    sendGate !== undefined && settings.taskGate ? await childGate(sendGate) : undefined;
  try {
    const run = await runner.run({
      parameters,
      reporter,
      signal: controller.signal,
      ...(flowRunId ? { flowRunId } : {}),
      ...(executor === undefined ? {} : { executor }),
      ...(taskGate === undefined ? {} : { taskGate }),
      ...(settings.resume !== undefined && canResume(runner.flow)
        ? { resume: settings.resume }
        : {}),
      ...(settings.approve === undefined ? {} : { approve: settings.approve }),
    });
    cli.exitCode = exitCodeFor(run.state);
  } finally {
    stop();
    if (events) await new Promise<void>((resolve) => events.end(resolve));
  }
}

/** A task gate that asks the parent on the event channel and reads its answers from stdin. */
async function childGate(send: (line: string) => void): Promise<TaskGate> {
  const { createChildTaskGate } = await import("../../serialization/flow-run-gate.ts");
  const { createInterface } = await import("node:readline");
  const stdin = process.stdin as typeof process.stdin & { ref?(): void; unref?(): void };
  const child = createChildTaskGate({
    send,
    hold: (open) => (open ? stdin.ref?.() : stdin.unref?.()),
  });
  createInterface({ input: stdin }).on("line", child.answer);
  stdin.unref?.();
  return child.gate;
}

function executorFrom(spec: unknown): ExecutorSpec | undefined {
  if (spec === undefined) return undefined;
  try {
    resolveExecutorOptions(spec as ExecutorSpec);
  } catch (error) {
    throw new WeftError("ENV_VAR_INVALID", `WEFT_EXECUTOR: ${(error as Error).message}`);
  }
  return spec as ExecutorSpec;
}

/** The event channel to the parent: a pipe on descriptor WEFT_EVENTS_FD. */
function eventsStream(n: number): Socket {
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
