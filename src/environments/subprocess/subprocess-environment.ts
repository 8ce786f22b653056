// The subprocess environment: each flow run in a fresh `node weft execute` process, started
// through the storage's env runner and told everything by the variables of the flow-run
// protocol (serialization/flow-run-protocol.ts). The child writes its events as JSON lines
// on descriptor 3; this side parses them and passes them on as data, except the final flow
// event, which is the run's outcome: `runChild` resolves with it, and withHooks (in
// environment.ts) reports it once. When the child never sends one (it crashed, timed out,
// was cancelled or could not start), the outcome is made here from how the process ended;
// `crashed` marks a death by signal, which an agent leaves to the server's run health.
// stdout and stderr become log records; the last stderr lines explain a death.

import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { z } from "zod";
import { type ExecutorSpec, flowExecutorSchema } from "../../core/executor-spec.ts";
import type { LogRecord } from "../../core/reporter.ts";
import { State } from "../../core/states.ts";
import { isSecretReference, resolveSecretReference } from "../../serialization/credentials.ts";
import { createGateAnswerer } from "../../serialization/flow-run-gate.ts";
import {
  forwardEvent,
  PARAMETERS_IN_ENV_MAX,
  parseEventLine,
  runVariables,
} from "../../serialization/flow-run-protocol.ts";
import { stateFromJSON } from "../../serialization/flow-serializer.ts";
import { parseLocation, type Storage } from "../../storage/storage.ts";
import {
  commonFlagOptions,
  type Environment,
  type EnvironmentHooks,
  type EnvironmentKind,
  type ExecuteContext,
  type ExecuteResult,
  isFinalFlowState,
  type SerializedEnvironment,
  withHooks,
} from "../environment.ts";
import { type EnvironmentImpl, guardEnvironment } from "../environment-guard.ts";
import { checkEnvironmentOptions, optionsFromJSON } from "../environment-options.ts";
import { projectDirectoryOf } from "../working-directory.ts";
import { describeExit, signalTree } from "./process-tree.ts";

/** Writes `json` to a fresh private directory; `remove` deletes both (idempotent). */
function writeParamsFile(json: string): { file: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "weft-params-"));
  const file = join(dir, "parameters.json");
  writeFileSync(file, json, { mode: 0o600 });
  return { file, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Options of the subprocess environment. */
export interface SubprocessEnvironmentOptions extends EnvironmentHooks {
  /** Where task bodies run inside the child. @default "concurrent" */
  executor?: ExecutorSpec;
  /** The child's V8 heap limit in MB (--max-old-space-size). @default Node's default */
  heapLimitMb?: number;
  /** Wall-clock limit of the whole run in ms; past it the child's process tree is killed. @default none */
  timeoutMs?: number;
  /**
   * Extra environment variables for the child. A value `env:NAME` is read from
   * NAME in the environment of the process that starts the child (the agent's,
   * for a registered flow); a variable whose NAME is unset is left out. Only
   * such references can be serialized (registered): literal values are for
   * flows run where they are defined. @default {}
   */
  env?: Record<string, string>;
  /** The child's working directory. @default the current directory */
  cwd?: string;
  /** Agents must carry all of these. @default [] */
  labels?: string[];
  /** After a cancel, how long the child may take to stop before it is killed. @default 5000 */
  killGraceMs?: number;
}

/** The JSON of a subprocess environment. */
export const subprocessEnvironmentSchema = z.strictObject({
  type: z.literal("subprocess"),
  schemaVersion: z.literal(1),
  labels: z.array(z.string().min(1)),
  executor: flowExecutorSchema.optional(),
  heapLimitMb: z.int().min(16).optional(),
  timeoutMs: z.int().min(1).optional(),
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).optional(),
  cwd: z.string().min(1).optional(),
  killGraceMs: z.int().min(0).optional(),
});

const STDERR_TAIL = 30;

/**
 * Runs each flow run in a fresh `node` process started through the storage's env
 * runner and driven by environment variables only. Isolates crashes and memory,
 * and makes timeouts hard: the child's whole process tree is killed.
 */
class SubprocessEnvironment implements EnvironmentImpl {
  readonly type = "subprocess";
  readonly storageNeeds = "shareable";
  readonly labels: string[];
  private readonly children = new Map<string, ChildProcess>();
  /** Runs whose process a signal killed before it reported a final state. */
  private readonly crashed = new Set<string>();

  constructor(private readonly options: SubprocessEnvironmentOptions) {
    this.labels = checkEnvironmentOptions("subprocess", subprocessEnvironmentSchema, options);
  }

  get hooks(): EnvironmentHooks {
    return this.options;
  }

  /** Nothing to provision: each run starts its own process (the guard checked the pairing). */
  async setup(): Promise<void> {}

  async execute(storage: Storage, location: string, ctx: ExecuteContext): Promise<ExecuteResult> {
    const result = await withHooks(
      this.options,
      ctx,
      parseLocation(location, storage.name).flowName,
      (inner) => this.runChild(storage, location, inner),
    );
    return this.crashed.delete(ctx.flowRunId) ? { ...result, crashed: true } : result;
  }

  private runChild(storage: Storage, location: string, ctx: ExecuteContext): Promise<State> {
    const o = this.options;
    const runner = storage.getEnvRunner(location);
    const parameters = JSON.stringify(ctx.parameters ?? {});
    // One environment string holds 128 KiB at most (spawn fails with E2BIG past it):
    // larger parameters reach the child through a file only this user can read.
    const paramsFile =
      Buffer.byteLength(parameters) > PARAMETERS_IN_ENV_MAX
        ? writeParamsFile(parameters)
        : undefined;
    const env: Record<string, string> = {
      ...resolveEnvMap(o.env),
      ...ctx.env,
      ...runVariables({
        flowRunId: ctx.flowRunId,
        parameters: paramsFile === undefined ? { json: parameters } : { file: paramsFile.file },
        eventsFd: 3,
        // stdin stays open (see below): when this process dies, the child sees it close and stops.
        exitWithParent: true,
        ...(ctx.taskGate === undefined ? {} : { taskGate: true }),
        ...(o.executor === undefined ? {} : { executor: o.executor }),
        ...(ctx.resume === undefined ? {} : { resume: ctx.resume }),
        ...(ctx.approve === undefined ? {} : { approve: ctx.approve }),
      }),
    };
    const started = Date.now();
    // The cwd option, else the flow's project directory when local storage recorded one here.
    const cwd = o.cwd ?? projectDirectoryOf(storage, location);
    let child: ChildProcess;
    try {
      child = runner.start({
        env,
        execArgv: o.heapLimitMb === undefined ? [] : [`--max-old-space-size=${o.heapLimitMb}`],
        ...(cwd === undefined ? {} : { cwd }),
        // stdin stays open: when this process dies, the child sees it close and stops.
        stdio: ["pipe", "pipe", "pipe", "pipe"],
        detached: true,
      });
    } catch (error) {
      paramsFile?.remove();
      throw error;
    }
    if (paramsFile !== undefined) child.on("close", paramsFile.remove);
    this.children.set(ctx.flowRunId, child);
    const run = {
      id: ctx.flowRunId,
      flowName: parseLocation(location, storage.name).flowName,
      parameters: ctx.parameters ?? {},
      taskCount: 0,
    };
    // The child's final flow event is the run's outcome: it resolves this promise (withHooks
    // reports it); every other event is passed on as it came.
    let final: State | undefined;
    let timedOut = false;
    let cancelled = false;
    const stderrTail: string[] = [];
    let spawnError: Error | undefined;

    const forward = (stream: Readable | null, name: "stdout" | "stderr") => {
      if (stream === null) return;
      createInterface({ input: stream }).on("line", (line) => {
        if (name === "stderr") {
          stderrTail.push(line);
          if (stderrTail.length > STDERR_TAIL) stderrTail.shift();
        }
        const record: LogRecord = {
          level: name === "stderr" ? "warn" : "info",
          message: line,
          time: Date.now(),
          flowRunId: ctx.flowRunId,
          fields: { stream: name, pid: child.pid },
        };
        ctx.reporter?.log?.(record);
        ctx.logger?.[record.level](line, { flowRunId: ctx.flowRunId, stream: name });
      });
    };
    forward(child.stdout, "stdout");
    forward(child.stderr, "stderr");
    const events = child.stdio[3] as Readable | null | undefined;
    // Concurrency limits: the child's gate requests are answered through the run's gate.
    const stdin = child.stdin;
    stdin?.on("error", () => {});
    const gate =
      ctx.taskGate === undefined || stdin === null
        ? undefined
        : createGateAnswerer(ctx.taskGate, ctx.flowRunId, (line) => {
            if (stdin.writable) stdin.write(line);
          });
    if (gate !== undefined) child.on("close", () => gate.close());
    if (events) {
      createInterface({ input: events }).on("line", (line) => {
        try {
          const event = parseEventLine(line);
          if (event.event === "gate") gate?.handle(event);
          else if (event.event === "flow" && isFinalFlowState(event.state.type))
            final = stateFromJSON(event.state);
          else if (ctx.reporter) forwardEvent(event, ctx.reporter, run);
        } catch (error) {
          ctx.logger?.warn(
            `ignored a malformed event from the flow-run process: ${(error as Error).message}`,
          );
        }
      });
    }

    const timer =
      o.timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            signalTree(child, "SIGKILL");
          }, o.timeoutMs);
    let graceTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      cancelled = true;
      signalTree(child, "SIGTERM");
      graceTimer = setTimeout(() => signalTree(child, "SIGKILL"), o.killGraceMs ?? 5000);
    };
    if (ctx.signal?.aborted) onAbort();
    else ctx.signal?.addEventListener("abort", onAbort, { once: true });

    return new Promise<State>((resolve) => {
      child.on("error", (error) => {
        spawnError ??= error;
      });
      // Reap whatever the run left in its process group once the child itself exits.
      child.on("exit", () => signalTree(child, "SIGKILL"));
      child.on("close", (code, signal) => {
        clearTimeout(timer);
        clearTimeout(graceTimer);
        ctx.signal?.removeEventListener("abort", onAbort);
        this.children.delete(ctx.flowRunId);
        if (final !== undefined) {
          resolve(final);
          return;
        }
        let state: State;
        if (timedOut) {
          state = new State(
            "TimedOut",
            `hard timeout after ${o.timeoutMs} ms: the flow-run process and its children were killed`,
            undefined,
            undefined,
            started,
          );
        } else if (cancelled) {
          state = new State(
            "Cancelled",
            "the flow run was cancelled; its process was stopped",
            undefined,
            undefined,
            started,
          );
        } else if (spawnError !== undefined) {
          const message = `could not start the flow-run process${o.cwd === undefined ? "" : ` (cwd ${o.cwd})`}: ${spawnError.message}`;
          state = new State("Failed", message, undefined, { type: "SpawnError", message }, started);
        } else {
          if (signal !== null) this.crashed.add(ctx.flowRunId);
          const message = describeExit(code, signal, stderrTail, o.heapLimitMb);
          state = new State(
            "Failed",
            message,
            undefined,
            { type: "ProcessExit", message },
            started,
          );
        }
        resolve(state);
      });
    });
  }

  async teardown(ctx: ExecuteContext): Promise<void> {
    const child = this.children.get(ctx.flowRunId);
    if (child !== undefined) signalTree(child, "SIGKILL");
  }

  toJSON(): SerializedEnvironment {
    const o = this.options;
    return {
      type: this.type,
      schemaVersion: 1,
      labels: this.labels,
      ...(o.executor === undefined ? {} : { executor: o.executor }),
      ...(o.heapLimitMb === undefined ? {} : { heapLimitMb: o.heapLimitMb }),
      ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
      ...(o.env === undefined ? {} : { env: o.env }),
      ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
      ...(o.killGraceMs === undefined ? {} : { killGraceMs: o.killGraceMs }),
    };
  }
}

/** The child's extra variables: `env:NAME` references read from this process's environment. */
function resolveEnvMap(map: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(map ?? {})) {
    if (!isSecretReference(value)) out[name] = value;
    else {
      const resolved = resolveSecretReference(value);
      if (resolved !== undefined) out[name] = resolved;
    }
  }
  return out;
}

/**
 * Runs each flow run in a fresh `node` process (through `weft execute`), for
 * isolation and hard timeouts. Needs a storage that another process can load.
 * @example
 * createSubprocessEnvironment({ heapLimitMb: 512, timeoutMs: 30 * 60_000 })
 */
export function createSubprocessEnvironment(
  options: SubprocessEnvironmentOptions = {},
): Environment {
  return guardEnvironment(new SubprocessEnvironment(options), subprocessEnvironmentKind);
}

/** Rebuilds a subprocess environment from validated JSON. */
export function subprocessEnvironmentFromJSON(
  json: z.infer<typeof subprocessEnvironmentSchema>,
): Environment {
  return createSubprocessEnvironment(optionsFromJSON<SubprocessEnvironmentOptions>(json));
}

/** The subprocess environment kind: another process loads the flow, so the storage must be shareable. */
export const subprocessEnvironmentKind: EnvironmentKind<
  z.infer<typeof subprocessEnvironmentSchema>
> = {
  type: "subprocess",
  schema: subprocessEnvironmentSchema,
  create: subprocessEnvironmentFromJSON,
  capabilities: { storageNeeds: "shareable", retriesElsewhere: false },
  fromFlags: (options) =>
    createSubprocessEnvironment({
      ...commonFlagOptions(options),
      ...(options.heapLimitMb === undefined ? {} : { heapLimitMb: options.heapLimitMb }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.env === undefined ? {} : { env: options.env }),
    }),
};
