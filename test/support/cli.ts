// Runs the `weft` command in this process: `main(argv, context)` of
// src/cli/main.ts with a context whose stdout and stderr are captured, and
// answers `{ code, stdout, stderr }` as a child's result, so that the
// assertions of test/support/cli-result.ts work on both. A command's logic and
// output are tested here, in milliseconds; what needs a process (signals, exit
// codes of the process, kill -9, start-up, one smoke test per command) runs
// through test/support/weft-process.ts.
//
// Process-wide state, and how this keeps to it:
// - The process's stdout is the test runner's channel: nothing here writes to
//   it or diverts it (the context's divertStdout leaves it alone). Flows run
//   here must not print to the console (console.log lands in the test
//   report): use fixtures that log through context().logger.
// - Environment variables and the working directory belong to the process: a
//   run given `env` or `cwd` sets them for its duration and has the process to
//   itself (other runs of this file wait; runs without either share it), and
//   puts every variable back afterwards, also those the command set.
// - Signals: the context's onInterrupt listens to no signal; `interrupt()` of
//   a started run plays the first Ctrl-C.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import type { CliContext } from "../../src/cli/context.ts";
import { main } from "../../src/cli/main.ts";
import { type CliResult, patternOf } from "./cli-result.ts";

export interface CliOptions {
  /** Variables to set (a string) or remove (undefined) while the command runs. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** The working directory while the command runs. */
  readonly cwd?: string;
  /** Whether stdout claims to be a terminal (tables instead of tab-separated lines). @default false */
  readonly stdoutTTY?: boolean;
  /**
   * Fail the run (its `done`) when `main` has not returned after this many ms,
   * rather than wait for ever. A command cannot be killed in process. @default 120000
   */
  readonly timeoutMs?: number;
}

/** A command running in this process. */
export interface CliRun {
  /** Everything written so far. */
  stdout(): string;
  stderr(): string;
  /** Resolves when stderr holds `pattern`; rejects if the command ends first or after `timeoutMs`. */
  waitForStderr(pattern: string | RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Plays a Ctrl-C: the first calls the command's interrupt handler. */
  interrupt(): void;
  /** Resolves when `main` has returned (a command that throws is a failed test). */
  readonly done: Promise<CliResult>;
}

/** A stream that keeps what is written to it. */
interface Capture {
  readonly stream: CliContext["stderr"];
  readonly text: string;
  /** Called after each write. */
  readonly onWrite: Set<() => void>;
}

function capture(isTTY: boolean): Capture {
  const onWrite = new Set<() => void>();
  let text = "";
  const stream = new Writable({
    decodeStrings: false,
    write(chunk: unknown, _encoding, callback) {
      text += typeof chunk === "string" ? chunk : String(chunk);
      for (const l of onWrite) l();
      callback();
    },
  }) as Writable & { isTTY?: boolean };
  stream.isTTY = isTTY;
  return {
    stream: stream as unknown as CliContext["stderr"],
    get text() {
      return text;
    },
    onWrite,
  };
}

// The settings a developer's shell may hold must not reach the commands here
// (as they never reach the child processes of weft-process.ts). WEFT_UI_SCREENSHOTS is the
// browser tests' own switch (test/ui/support/browser.ts), read after this module loaded.
for (const name of Object.keys(process.env)) {
  if (
    name.startsWith("WEFT_") &&
    name !== "WEFT_HOME" &&
    name !== "WEFT_UI_SCREENSHOTS" &&
    !name.startsWith("WEFT_TEST_")
  )
    delete process.env[name];
}

// Runs without env or cwd share the process; a run with either has it alone.
let sharing = 0;
let exclusive = false;
const waiting: { alone: boolean; go: () => void }[] = [];

function admit(): void {
  while (waiting.length > 0 && !exclusive) {
    const next = waiting[0]!;
    if (next.alone && sharing > 0) return;
    waiting.shift();
    if (next.alone) exclusive = true;
    else sharing++;
    next.go();
    if (next.alone) return;
  }
}

function acquire(alone: boolean): Promise<() => void> {
  return new Promise((resolve) => {
    waiting.push({
      alone,
      go: () =>
        resolve(() => {
          if (alone) exclusive = false;
          else sharing--;
          admit();
        }),
    });
    admit();
  });
}

function setEnvironment(env: Readonly<Record<string, string | undefined>>): () => void {
  const saved = { ...process.env };
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  return () => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    for (const [name, value] of Object.entries(saved)) process.env[name] = value;
  };
}

/** Starts `weft ...argv` in this process. */
export function startCli(argv: readonly string[], options: CliOptions = {}): CliRun {
  const stdout = capture(options.stdoutTTY ?? false);
  const stderr = capture(false);
  const interrupts = new Set<() => void>();
  const context: CliContext = {
    stdout: stdout.stream,
    stderr: stderr.stream,
    exitCode: 0,
    onInterrupt(onFirst, notice = "interrupted: cancelling the run (Ctrl-C again to quit now)") {
      const handler = () => {
        stderr.stream.write(`\n${notice}\n`);
        onFirst();
      };
      interrupts.add(handler);
      return () => interrupts.delete(handler);
    },
    divertStdout: () => () => {},
  };
  const alone = options.env !== undefined || options.cwd !== undefined;
  const done = (async (): Promise<CliResult> => {
    const release = await acquire(alone);
    const restoreEnv = options.env === undefined ? undefined : setEnvironment(options.env);
    const cwd = process.cwd();
    if (options.cwd !== undefined) process.chdir(options.cwd);
    let timer: NodeJS.Timeout | undefined;
    const timeoutMs = options.timeoutMs ?? 120_000;
    const overdue = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `weft ${argv.join(" ")} ran over ${timeoutMs} ms in process\nstdout:\n${stdout.text}\nstderr:\n${stderr.text}`,
            ),
          ),
        timeoutMs,
      );
    });
    try {
      const code = await Promise.race([main(argv, context), overdue]);
      return { code, signal: null, stdout: stdout.text, stderr: stderr.text };
    } finally {
      clearTimeout(timer);
      if (options.cwd !== undefined) process.chdir(cwd);
      restoreEnv?.();
      release();
    }
  })();
  let ended = false;
  void done.then(
    () => {
      ended = true;
      for (const l of stderr.onWrite) l();
    },
    () => {
      ended = true;
      for (const l of stderr.onWrite) l();
    },
  );
  return {
    stdout: () => stdout.text,
    stderr: () => stderr.text,
    interrupt() {
      for (const handler of [...interrupts]) handler();
    },
    waitForStderr(pattern, timeoutMs = 60_000) {
      const regex = patternOf(pattern);
      return new Promise((resolve, reject) => {
        const finish = (then: () => void) => {
          clearTimeout(timer);
          stderr.onWrite.delete(check);
          then();
        };
        const check = () => {
          const match = stderr.text.match(regex);
          if (match !== null) finish(() => resolve(match));
          else if (ended)
            finish(() =>
              reject(
                new Error(`weft ${argv.join(" ")} ended before printing ${regex}:\n${stderr.text}`),
              ),
            );
        };
        const timer = setTimeout(
          () =>
            finish(() =>
              reject(
                new Error(
                  `weft ${argv.join(" ")} did not print ${regex} in ${timeoutMs} ms:\n${stderr.text}`,
                ),
              ),
            ),
          timeoutMs,
        );
        stderr.onWrite.add(check);
        check();
      });
    },
    done,
  };
}

/** Runs `weft ...argv` in this process to its end. */
export function runCli(argv: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(argv, options).done;
}

const shared = new Map<string, Promise<CliResult>>();

/** Like {@link runCli}, but one run per distinct argument list in this test file (for tests that only read it). */
export function runCliOnce(argv: readonly string[]): Promise<CliResult> {
  const key = JSON.stringify(argv);
  let result = shared.get(key);
  if (result === undefined) {
    result = runCli(argv);
    shared.set(key, result);
  }
  return result;
}

/** Fails unless the run exited 0; returns its stdout. */
export function okStdout(result: CliResult, what = "the command"): string {
  assert.equal(result.code, 0, `${what} failed:\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}
