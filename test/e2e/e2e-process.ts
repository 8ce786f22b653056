// The orchestrator's processes for the end-to-end suite: `weft up`, `weft
// server start` and `weft agent start` as children of the test (through
// test/support/weft-process.ts, each with its own WEFT_HOME, on --port 0), `weft
// register` (in process: it only sets the scene), and a client to read the
// database's view of a run while it goes.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ApiClient, createApiClient } from "../../src/client/api-client.ts";
import { State, type StateType } from "../../src/core/states.ts";
import type { FlowRunDetail } from "../../src/serialization/api-schemas.ts";
import { runCli } from "../support/cli.ts";
import { explain } from "../support/cli-result.ts";
import { describeOutput, startWeft, type WeftProcess } from "../support/weft-process.ts";

// The benchmark of bench/e2e drives the same processes.
export { describeOutput, stopAll, type WeftProcess } from "../support/weft-process.ts";

/** The fixture flows of the end-to-end suite, relative to the repository root. */
export const e2eFixtures = "test/fixtures/e2e";

/** A long-lived process serves for this long at most (the whole file, on a loaded machine). */
const LIFETIME_MS = 600_000;

/** A process that serves the API (`weft up` or `weft server start`). */
export interface ServerProcess extends WeftProcess {
  readonly url: string;
  readonly port: number;
  /** A client of its API (with `token` when given). */
  readonly api: ApiClient;
}

export interface WeftProcessOptions {
  /** WEFT_HOME of the process (and where its local storage and caches live). */
  readonly home: string;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** How long to wait for the process to come up. @default 60000 */
  readonly startTimeoutMs?: number;
}

/** Starts a long-lived `weft …` with its own home. */
function startLongLived(args: readonly string[], options: WeftProcessOptions): WeftProcess {
  return startWeft(args, {
    env: { WEFT_HOME: options.home, ...options.env },
    timeoutMs: LIFETIME_MS,
  });
}

/** Settings of the scheduler and run-health loops (flags of `weft up` and `weft server start`). */
export interface LoopSettings {
  /** --loop-interval: how often the scheduler and run health tick. */
  readonly loopIntervalMs?: number;
  /** --heartbeat-timeout: a Running run unheard for this long is stale. */
  readonly heartbeatTimeoutMs?: number;
  /** --submitted-timeout: a Submitted run not started for this long is stale. */
  readonly submittedTimeoutMs?: number;
  /** --max-reschedules. */
  readonly maxReschedules?: number;
}

function loopFlags(loops: LoopSettings | undefined): string[] {
  if (loops === undefined) return [];
  const flags: string[] = [];
  if (loops.loopIntervalMs !== undefined)
    flags.push("--loop-interval", String(loops.loopIntervalMs));
  if (loops.heartbeatTimeoutMs !== undefined)
    flags.push("--heartbeat-timeout", String(loops.heartbeatTimeoutMs));
  if (loops.submittedTimeoutMs !== undefined)
    flags.push("--submitted-timeout", String(loops.submittedTimeoutMs));
  if (loops.maxReschedules !== undefined)
    flags.push("--max-reschedules", String(loops.maxReschedules));
  return flags;
}

export interface UpOptions extends WeftProcessOptions {
  /** --db (default: weft.db under the home). */
  readonly db?: string;
  /** --port. @default 0 */
  readonly port?: number;
  readonly loops?: LoopSettings;
  /** --heartbeat-interval of its agent. */
  readonly heartbeatIntervalMs?: number;
  /** --concurrency of its agent. */
  readonly concurrency?: number;
  /** --labels of its agent. */
  readonly labels?: readonly string[];
  /** --no-agent. */
  readonly noAgent?: boolean;
  readonly args?: readonly string[];
}

function server(proc: WeftProcess, url: string, token?: string): ServerProcess {
  const port = Number(new URL(url).port);
  return Object.assign(proc, { url, port, api: createApiClient({ url, token }) });
}

/** Starts `weft up` and waits for `weft is up: <url>`. */
export async function startUp(options: UpOptions): Promise<ServerProcess> {
  const args = [
    "up",
    "--port",
    String(options.port ?? 0),
    ...(options.db === undefined ? [] : ["--db", options.db]),
    ...loopFlags(options.loops),
    ...(options.heartbeatIntervalMs === undefined
      ? []
      : ["--heartbeat-interval", String(options.heartbeatIntervalMs)]),
    ...(options.concurrency === undefined ? [] : ["--concurrency", String(options.concurrency)]),
    ...(options.labels === undefined ? [] : ["--labels", options.labels.join(",")]),
    ...(options.noAgent ? ["--no-agent"] : []),
    ...(options.args ?? []),
  ];
  const proc = startLongLived(args, options);
  try {
    const [, url] = await proc.waitFor(/^weft is up: (\S+)$/m, {
      stream: "stdout",
      timeoutMs: options.startTimeoutMs ?? 60_000,
    });
    return server(proc, url!);
  } catch (error) {
    await proc.stop(1000);
    throw error;
  }
}

export interface ServerStartOptions extends WeftProcessOptions {
  readonly db: string;
  /** @default 0 */
  readonly port?: number;
  readonly loops?: LoopSettings;
}

/** Starts `weft server start` and waits for the URL it prints on stdout. */
export async function startServerProcess(options: ServerStartOptions): Promise<ServerProcess> {
  const args = [
    "server",
    "start",
    "--db",
    options.db,
    "--port",
    String(options.port ?? 0),
    ...loopFlags(options.loops),
  ];
  const proc = startLongLived(args, options);
  try {
    const [, url] = await proc.waitFor(/^(http:\/\/\S+)$/m, {
      stream: "stdout",
      timeoutMs: options.startTimeoutMs ?? 60_000,
    });
    return server(proc, url!);
  } catch (error) {
    await proc.stop(1000);
    throw error;
  }
}

export interface AgentStartOptions extends WeftProcessOptions {
  readonly api: string;
  readonly token?: string;
  readonly name?: string;
  readonly labels?: readonly string[];
  /** Leave out the hostname label. */
  readonly noHostnameLabel?: boolean;
  readonly concurrency?: number;
  readonly heartbeatIntervalMs?: number;
  readonly stopGraceMs?: number;
  /** Wait until it says it registered. @default true */
  readonly waitRegistered?: boolean;
  /** More flags (e.g. `--kubernetes …`). */
  readonly args?: readonly string[];
}

/** Starts `weft agent start` and (by default) waits until it has registered. */
export async function startAgentProcess(options: AgentStartOptions): Promise<WeftProcess> {
  const args = [
    "agent",
    "start",
    "--api",
    options.api,
    ...(options.token === undefined ? [] : ["--token", options.token]),
    ...(options.name === undefined ? [] : ["--name", options.name]),
    ...(options.labels === undefined ? [] : ["--labels", options.labels.join(",")]),
    ...(options.noHostnameLabel ? ["--no-hostname-label"] : []),
    ...(options.concurrency === undefined ? [] : ["--concurrency", String(options.concurrency)]),
    ...(options.heartbeatIntervalMs === undefined
      ? []
      : ["--heartbeat-interval", String(options.heartbeatIntervalMs)]),
    ...(options.stopGraceMs === undefined ? [] : ["--stop-grace", String(options.stopGraceMs)]),
    ...(options.args ?? []),
  ];
  const proc = startLongLived(args, options);
  if (options.waitRegistered !== false) {
    try {
      await proc.waitFor(/ registered as \S+/, {
        stream: "stderr",
        timeoutMs: options.startTimeoutMs ?? 60_000,
      });
    } catch (error) {
      await proc.stop(1000);
      throw error;
    }
  }
  return proc;
}

/** A fresh directory under the system temp dir; removed by {@link removeTempDirs}. */
const temps: string[] = [];
export function tempDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `weft-e2e-${label}-`));
  temps.push(dir);
  return dir;
}

/** Removes every directory {@link tempDir} made. */
export function removeTempDirs(): void {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** The JSON `weft register --json` prints. */
export interface Registered {
  readonly flows: readonly {
    id: string;
    name: string;
    version: number;
    created: boolean;
    labels: string[];
    location?: string;
  }[];
}

/** Runs `weft register <file> --api <url> --json …` in process and returns what it registered. */
export async function register(
  file: string,
  args: readonly string[],
  options: { api: string; home: string; env?: Readonly<Record<string, string>> },
): Promise<Registered> {
  const result = await runCli(["register", file, "--api", options.api, "--json", ...args], {
    env: { WEFT_HOME: options.home, ...options.env },
  });
  assert.equal(
    result.code,
    0,
    `weft register ${file} ${args.join(" ")} failed:\n${explain(result)}`,
  );
  return JSON.parse(result.stdout) as Registered;
}

/** Resolves after `ms`. */
export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** True for a state after which a run does not change any more. */
export const isFinished = (type: string) => new State(type as StateType).isFinished();

/**
 * Polls the run until `until` holds (default: it reached a finished state),
 * and returns the database's view of it. Fails after `timeoutMs`, showing the
 * run and, when given, the output of the processes involved.
 */
export async function waitForRun(
  api: ApiClient,
  runId: string,
  options: {
    until?: (run: FlowRunDetail) => boolean;
    timeoutMs?: number;
    what?: string;
    processes?: readonly WeftProcess[];
  } = {},
): Promise<FlowRunDetail> {
  const until = options.until ?? ((run) => isFinished(run.state.type));
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  let last: FlowRunDetail | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await api.getFlowRun(runId);
      if (until(last)) return last;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const shown = last === undefined ? `(never read: ${String(lastError)})` : summarize(last);
      assert.fail(
        `run ${runId} did not reach ${options.what ?? "a finished state"} within ${options.timeoutMs ?? 60_000} ms: ${shown}${(options.processes ?? []).map(describeOutput).join("")}`,
      );
    }
    await delay(100);
  }
}

/** A run in one line: its state, history and task states. */
export function summarize(run: FlowRunDetail): string {
  const history = run.history.map((s) => s.type).join(" → ");
  const tasks = run.taskRuns.map(
    (t) => `${t.slug}${t.mapIndex === undefined ? "" : `[${t.mapIndex}]`}=${t.state.type}`,
  );
  return `${run.state.type}${run.state.message ? ` (${run.state.message})` : ""}; history ${history}; tasks ${tasks.join(", ")}`;
}

/** The task runs of a run by slug: `{ "first-1": "Success", … }`. */
export function taskStates(run: FlowRunDetail): Record<string, string> {
  return Object.fromEntries(
    run.taskRuns.map((t) => [
      t.mapIndex === undefined ? t.slug : `${t.slug}[${t.mapIndex}]`,
      t.state.type,
    ]),
  );
}

/** Every log message of a run, oldest first. */
export async function logMessages(api: ApiClient, runId: string): Promise<string[]> {
  const messages: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await api.listLogs(runId, {
      limit: 5000,
      ...(cursor === undefined ? {} : { cursor }),
    });
    messages.push(...page.items.map((l) => l.message));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return messages;
}
