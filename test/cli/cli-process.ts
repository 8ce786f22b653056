// Runs the real `weft` command as a child process, the way users do, and keeps
// track of every child so that a test file can reap what is left (by pid).
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root (the `weft` package), where the command runs. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** The `weft` command's entry point. */
export const weftBin = join(repoRoot, "bin", "weft.js");

/** The fixture flows of the CLI tests, relative to {@link repoRoot}. */
export const fixtures = "test/fixtures/cli";

/** What a finished `weft` process left behind. */
export interface CliResult {
  /** The exit code, or null when a signal ended the process. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A `weft` process that is still running. */
export interface CliProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves when stderr contains `text` (rejects if the process ends first). */
  waitForStderr(text: string): Promise<void>;
  /** Resolves when the process has ended. */
  readonly done: Promise<CliResult>;
}

export interface CliOptions {
  /** The `weft` entry point to run (another installation's). @default {@link weftBin} */
  readonly bin?: string;
  /** The working directory. @default the repository root */
  readonly cwd?: string;
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /** Kill the process (SIGKILL) and fail after this many ms. @default 30_000 */
  readonly timeoutMs?: number;
}

const live = new Set<ChildProcess>();

function childEnv(extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", ...extra };
  // The test runner's own settings must not leak into the command under test.
  delete env.NODE_TEST_CONTEXT;
  delete env.NODE_OPTIONS;
  return env;
}

/** Starts `node bin/weft.js ...args` in the repository root. */
export function startCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  const child = spawn(process.execPath, [options.bin ?? weftBin, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: childEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (child.pid === undefined) throw new Error(`could not start weft ${args.join(" ")}`);
  const pid = child.pid;
  live.add(child);
  let stdout = "";
  let stderr = "";
  const waiters: { text: string; resolve: () => void; reject: (e: Error) => void }[] = [];
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
    for (const w of waiters.splice(0)) {
      if (stderr.includes(w.text)) w.resolve();
      else waiters.push(w);
    }
  });
  const timeoutMs = options.timeoutMs ?? 30_000;
  const done = new Promise<CliResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      killPid(pid);
      reject(new Error(`weft ${args.join(" ")} ran over ${timeoutMs} ms\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      live.delete(child);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      for (const w of waiters.splice(0)) {
        w.reject(new Error(`weft ended before writing ${JSON.stringify(w.text)}:\n${stderr}`));
      }
      resolve({ code, signal, stdout, stderr });
    });
  });
  return {
    child,
    pid,
    stderr: () => stderr,
    waitForStderr(text) {
      if (stderr.includes(text)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        waiters.push({ text, resolve, reject });
      });
    },
    done,
  };
}

// Each `weft` process spends most of a second of CPU starting (tsx, the
// command tree): more of them at once than there are cores only makes each
// slower, and their timeouts meaningless.
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

/**
 * Runs `node bin/weft.js ...args` to the end. At most as many run at once as
 * there are cores; the others wait for a slot.
 */
export async function runCli(
  args: readonly string[],
  options: CliOptions = {},
): Promise<CliResult> {
  await acquireSlot();
  try {
    return await startCli(args, options).done;
  } finally {
    releaseSlot();
  }
}

const shared = new Map<string, Promise<CliResult>>();

/**
 * Like {@link runCli}, but one process per distinct argument list in this test
 * file: tests that only read the same run's output share it (the CLI costs
 * most of a second of CPU to start).
 */
export function runCliOnce(args: readonly string[]): Promise<CliResult> {
  const key = JSON.stringify(args);
  let result = shared.get(key);
  if (result === undefined) {
    result = runCli(args);
    shared.set(key, result);
  }
  return result;
}

function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/** Kills (by pid) every `weft` process this test file started that is still running. */
export function reapCliProcesses(): void {
  for (const child of live) if (child.pid !== undefined) killPid(child.pid);
  live.clear();
}

/** True while a process with this pid exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

const STACK_FRAME = /^\s+at /m;

/** Fails when `text` holds a stack frame line (`    at f (file:1:2)`). */
export function assertNoStack(text: string): void {
  assert.doesNotMatch(text, STACK_FRAME, `no stack trace expected, got:\n${text}`);
}

/** Fails unless `text` holds a stack frame line. */
export function assertStack(text: string): void {
  assert.match(text, STACK_FRAME, `a stack trace expected, got:\n${text}`);
}

/** What a refused command must look like. */
export interface ExpectedError {
  /** The exit code. @default 2 */
  readonly exit?: number;
  /** The error code in parentheses at the end of the error line. */
  readonly code: string;
  /** What the error line must say (all of it, in order or not). */
  readonly says: readonly (string | RegExp)[];
  /** What the hint line must say, when there must be one. */
  readonly hint?: string | RegExp;
}

/**
 * Checks the one-line error of the CLI conventions: the exit code, nothing on
 * stdout, exactly one `error: <what> (<CODE>)` line on stderr, at most one
 * `hint:` line after it, and no stack trace. Returns the error line.
 */
export function assertCliError(result: CliResult, expected: ExpectedError): string {
  const context = `\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
  assert.equal(result.code, expected.exit ?? 2, `exit code${context}`);
  assert.equal(result.stdout, "", `nothing on stdout${context}`);
  const lines = result.stderr.split("\n").filter((line) => line !== "");
  const errors = lines.filter((line) => line.startsWith("error:"));
  assert.equal(errors.length, 1, `exactly one error line${context}`);
  const line = errors[0]!;
  assert.ok(
    line.endsWith(` (${expected.code})`),
    `the error line ends with (${expected.code}): ${line}`,
  );
  for (const part of expected.says) {
    if (typeof part === "string") assert.ok(line.includes(part), `${line}\nshould say ${part}`);
    else assert.match(line, part);
  }
  const hints = lines.filter((l) => l.startsWith("hint:"));
  assert.ok(hints.length <= 1, `at most one hint line${context}`);
  if (expected.hint !== undefined) {
    assert.equal(hints.length, 1, `a hint line${context}`);
    if (typeof expected.hint === "string") assert.ok(hints[0]!.includes(expected.hint), hints[0]);
    else assert.match(hints[0]!, expected.hint);
  }
  const others = lines.filter((l) => !l.startsWith("error:") && !l.startsWith("hint:"));
  assert.deepEqual(others, [], `only the error and hint lines on stderr${context}`);
  assertNoStack(result.stderr);
  return line;
}

/** One task of the `--json` document. */
export interface JsonTask {
  readonly slug: string;
  readonly type: string;
  readonly message?: string;
  readonly attempts?: number;
  readonly children?: number;
  readonly error?: { readonly type: string; readonly message: string; readonly stack?: string };
}

/** The document `weft run --json` prints. */
export interface JsonRun {
  readonly flowRunId: string;
  readonly flow: string;
  readonly parameters: Record<string, unknown>;
  readonly state: { readonly type: string; readonly message?: string };
  readonly tasks: readonly JsonTask[];
}

/** Parses stdout as the single JSON document of `--json` (nothing else may be there). */
export function parseJsonRun(result: CliResult): JsonRun {
  try {
    return JSON.parse(result.stdout) as JsonRun;
  } catch (error) {
    assert.fail(
      `stdout is not one JSON document (${(error as Error).message}):\n${result.stdout}\nstderr:\n${result.stderr}`,
    );
  }
}

/** The states of a run by slug: `{ "extract-1": "Success", … }`. */
export function statesOf(run: JsonRun): Record<string, string> {
  return Object.fromEntries(run.tasks.map((t) => [t.slug, t.type]));
}

/** The task with this slug (fails when there is none). */
export function taskOf(run: JsonRun, slug: string): JsonTask {
  const found = run.tasks.find((t) => t.slug === slug);
  assert.ok(found, `no task ${slug} in ${run.tasks.map((t) => t.slug).join(", ")}`);
  return found;
}
