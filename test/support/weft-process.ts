// The one place where tests start processes: `node bin/weft.js …` (the real
// command, as users run it, from dist/) and the other node scripts tests need.
// It collects stdout and stderr, waits for what a process prints (never a fixed
// sleep), stops a process by pid (SIGTERM, then SIGKILL after a bound), and
// reaps by pid every process a test file started, and every pid a test learned
// (a flow-run child, a grandchild), even when the file ends early.
//
// Start a process only where a process is the point: signals and exit codes,
// kill -9, start-up, `weft execute` as environments drive it, a long-running
// server or agent. A command's logic and output are tested in process
// (test/support/cli.ts), with the same result type and assertions
// (test/support/cli-result.ts).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { delimiter, dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { type CliResult, explain, patternOf } from "./cli-result.ts";

/** The repository root (the `weftflow` package), where processes run. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** The `weft` command's entry point. */
export const weftBin = join(repoRoot, "bin", "weft.js");

/**
 * How long a process may run before it is killed (SIGKILL) and its `done`
 * fails. Generous: a weft process takes seconds to start on a loaded 2-core CI.
 */
export const PROCESS_TIMEOUT_MS = 120_000;

/** How long {@link WeftProcess.waitFor} waits by default. */
export const WAIT_TIMEOUT_MS = 60_000;

export interface ProcessOptions {
  /** The working directory. @default the repository root */
  readonly cwd?: string;
  /** Variables to set (a string) or remove (undefined), over the cleaned environment. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Kill (SIGKILL) the process and fail its `done` after this many ms. @default {@link PROCESS_TIMEOUT_MS} */
  readonly timeoutMs?: number;
  /** stdin: "pipe" keeps it open until `child.stdin` is ended. @default "ignore" */
  readonly stdin?: "ignore" | "pipe";
  /** Open a pipe on descriptor 3 and collect what the process writes there. */
  readonly fd3?: boolean;
  /** Start the process as the leader of a new process group. */
  readonly detached?: boolean;
  /**
   * Start it as the leader of a new process group and signal the whole group
   * (kill, stop, timeout), as a terminal's Ctrl-C does: for commands that start
   * others and do not pass signals on (npx).
   */
  readonly group?: boolean;
}

/** A process a test started. */
export interface WeftProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** The command line, for messages. */
  readonly args: readonly string[];
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Everything written so far on descriptor 3 (with `fd3`). */
  fd3(): string;
  /**
   * Resolves when the stream (both by default) holds `pattern` (a string is
   * matched as it is), with the match; rejects when the process ends or
   * `timeoutMs` passes first.
   */
  waitFor(
    pattern: string | RegExp,
    options?: { stream?: "stdout" | "stderr"; timeoutMs?: number },
  ): Promise<RegExpMatchArray>;
  /** True until the process has ended. */
  readonly running: boolean;
  /** Resolves when the process has ended (rejects when it ran over its timeout). */
  readonly done: Promise<CliResult>;
  /** `signal` (SIGTERM), then SIGKILL after `graceMs`; resolves when it has ended. Idempotent. */
  stop(graceMs?: number, signal?: NodeJS.Signals): Promise<CliResult>;
  /** Sends `signal` by pid (nothing once it has ended). */
  kill(signal: NodeJS.Signals): void;
}

const live = new Set<WeftProcess>();
const learned = new Set<number>();

/**
 * The environment of a child: this one's, without the test runner's settings
 * and without the weft settings a developer's shell may hold (only WEFT_HOME,
 * which scripts/test.js points at a fresh directory, and WEFT_TEST_* stay),
 * then `extra`.
 */
export function childEnv(
  extra: Readonly<Record<string, string | undefined>> = {},
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1" };
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  delete env.INIT_CWD;
  for (const name of Object.keys(env)) {
    if (name.startsWith("WEFT_") && name !== "WEFT_HOME" && !name.startsWith("WEFT_TEST_"))
      delete env[name];
    // `npm test`'s run-script variables (npm_config_local_prefix, …) would point an npm or
    // npx the child starts at this repository.
    if (name.startsWith("npm_")) delete env[name];
  }
  // npm, npx and installed bins run this Node.js (and its ABI), as the test does.
  env.PATH = [dirname(process.execPath), process.env.PATH ?? ""].join(delimiter);
  for (const [name, value] of Object.entries(extra)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

function killPid(pid: number, signal: NodeJS.Signals = "SIGKILL"): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

function start(
  executable: string,
  command: readonly string[],
  args: readonly string[],
  options: ProcessOptions,
): WeftProcess {
  const child = spawn(executable, [...command, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: childEnv(options.env),
    stdio: [options.stdin ?? "ignore", "pipe", "pipe", ...(options.fd3 ? ["pipe" as const] : [])],
    detached: (options.detached ?? false) || (options.group ?? false),
  });
  if (child.pid === undefined) throw new Error(`could not start ${args.join(" ")}`);
  const pid = child.pid;
  // Signals go to the process, or to its whole group.
  const target = options.group ? -pid : pid;
  const name = `${command.at(-1)?.endsWith("weft.js") ? "weft" : command.join(" ") || executable} ${args.join(" ")}`;
  let out = "";
  let err = "";
  let events = "";
  let ended = false;
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of listeners) l();
  };
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
    notify();
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
    notify();
  });
  (child.stdio[3] as Readable | null | undefined)?.setEncoding("utf8").on("data", (c: string) => {
    events += c;
  });
  const timeoutMs = options.timeoutMs ?? PROCESS_TIMEOUT_MS;
  const done = new Promise<CliResult>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killPid(target);
    }, timeoutMs);
    const end = (settle: () => void) => {
      clearTimeout(timer);
      ended = true;
      live.delete(proc);
      notify();
      settle();
    };
    child.on("error", (error) => end(() => reject(error)));
    child.on("close", (code, signal) => {
      const result = { code, signal, stdout: out, stderr: err };
      end(() =>
        timedOut
          ? reject(new Error(`${name} ran over ${timeoutMs} ms and was killed\n${explain(result)}`))
          : resolve(result),
      );
    });
  });
  // A process nobody awaits may still time out: that must not be an unhandled rejection.
  done.catch(() => {});
  let stopping: Promise<CliResult> | undefined;
  const proc: WeftProcess = {
    child,
    pid,
    args,
    stdout: () => out,
    stderr: () => err,
    fd3: () => events,
    get running() {
      return !ended;
    },
    done,
    waitFor(pattern, o = {}) {
      const regex = patternOf(pattern);
      const text = () =>
        o.stream === "stderr" ? err : o.stream === "stdout" ? out : `${out}\n${err}`;
      const timeout = o.timeoutMs ?? WAIT_TIMEOUT_MS;
      return new Promise((resolve, reject) => {
        const finish = (then: () => void) => {
          clearTimeout(timer);
          listeners.delete(check);
          then();
        };
        const check = () => {
          const match = text().match(regex);
          if (match !== null) finish(() => resolve(match));
          else if (ended)
            finish(() =>
              reject(new Error(`${name} ended before printing ${regex}${describeOutput(proc)}`)),
            );
        };
        const timer = setTimeout(
          () =>
            finish(() =>
              reject(
                new Error(
                  `${name} did not print ${regex} within ${timeout} ms${describeOutput(proc)}`,
                ),
              ),
            ),
          timeout,
        );
        listeners.add(check);
        check();
      });
    },
    kill(signal) {
      if (!ended) killPid(target, signal);
    },
    stop(graceMs = 10_000, signal = "SIGTERM") {
      stopping ??= (async () => {
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill("SIGKILL"), graceMs);
        try {
          return await done;
        } finally {
          clearTimeout(timer);
        }
      })();
      return stopping;
    },
  };
  live.add(proc);
  return proc;
}

/** Starts `node bin/weft.js ...args` (in the repository root unless `cwd` says otherwise). */
export function startWeft(args: readonly string[], options: ProcessOptions = {}): WeftProcess {
  return start(process.execPath, [weftBin], args, options);
}

/** Starts any executable (npx, an installed bin, tsc) with the same bookkeeping. */
export function startCommand(
  executable: string,
  args: readonly string[],
  options: ProcessOptions = {},
): WeftProcess {
  return start(executable, [], args, options);
}

/** Starts `node ...nodeArgs script ...args`: a test's own script (e.g. with `--import tsx`). */
export function startNode(
  script: string,
  args: readonly string[],
  options: ProcessOptions & { readonly nodeArgs?: readonly string[] } = {},
): WeftProcess {
  return start(process.execPath, [...(options.nodeArgs ?? []), script], args, options);
}

// Each `weft` process spends a good part of a second of CPU starting: more of
// them at once than there are cores only makes each slower, and their
// timeouts meaningless. Processes started by runWeft wait for a slot.
const slots = Math.max(2, availableParallelism());
let running = 0;
const queued: (() => void)[] = [];

async function acquireSlot(): Promise<void> {
  if (running < slots) {
    running++;
    return;
  }
  await new Promise<void>((resolve) => queued.push(resolve));
}

function releaseSlot(): void {
  const next = queued.shift();
  if (next === undefined) running--;
  else next();
}

/** Runs `node bin/weft.js ...args` to its end; at most as many at once as there are cores. */
export async function runWeft(
  args: readonly string[],
  options: ProcessOptions = {},
): Promise<CliResult> {
  await acquireSlot();
  try {
    return await startWeft(args, options).done;
  } finally {
    releaseSlot();
  }
}

/** What a process printed (the last 40 lines of each stream), for assertion messages. */
export function describeOutput(proc: WeftProcess): string {
  const tail = (text: string) => text.split("\n").slice(-40).join("\n");
  return `\n--- ${proc.args.join(" ")} (pid ${proc.pid}) stdout:\n${tail(proc.stdout())}\n--- stderr:\n${tail(proc.stderr())}`;
}

/** Stops every process this test file started that still runs (SIGTERM, then SIGKILL). */
export async function stopAll(graceMs = 5000): Promise<void> {
  await Promise.allSettled([...live].map((p) => p.stop(graceMs)));
  reapAll();
}

/**
 * Kills (SIGKILL, by pid) every process this test file started that still
 * runs, and every pid learned with {@link trackPids}. Call it in `after`; it
 * also runs when the test file's process exits.
 */
export function reapAll(): void {
  for (const proc of live) proc.kill("SIGKILL");
  live.clear();
  for (const pid of learned) killPid(pid);
  learned.clear();
}
process.on("exit", reapAll);

/**
 * Remembers pids a test learned (a flow-run child, a grandchild) so that
 * {@link reapAll} kills them if the test leaves them running.
 */
export function trackPids(pids: readonly number[]): void {
  // An in-process environment reports this very process: never reap ourselves.
  for (const pid of pids) if (pid !== process.pid && pid !== process.ppid) learned.add(pid);
}

/**
 * True while a process with this pid runs. A zombie (exited, not yet reaped by
 * its parent, which in a container may be an init that never reaps) counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return false;
  }
  // "<pid> (<command>) <state> …": the command may hold spaces and parentheses.
  const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  return state !== "Z" && state !== "X";
}

/** Polls `probe` every 25 ms until it returns a value other than undefined; fails after `timeoutMs`. */
export async function waitUntil<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = WAIT_TIMEOUT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Reads the pids a fixture task wrote ("<pid> [<grandchild pid>]") once complete, and tracks them. */
export async function readPids(file: string, count: number): Promise<number[]> {
  return waitUntil(`${count} pid(s) in ${file}`, async () => {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch {
      return undefined;
    }
    const pids = text.trim().split(/\s+/).filter(Boolean).map(Number);
    if (pids.length < count || pids.some((p) => !Number.isInteger(p) || p <= 0)) return undefined;
    trackPids(pids);
    return pids;
  });
}

/** Waits until none of `pids` runs; fails naming the survivors after `timeoutMs`. */
export async function assertGone(pids: readonly number[], what: string, timeoutMs = 5_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (pids.every((pid) => !isAlive(pid))) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const alive = pids.filter(isAlive);
  assert.deepEqual(alive, [], `${what}: still running after ${timeoutMs} ms: ${alive.join(", ")}`);
}
