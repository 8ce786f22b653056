// What a `weft` command left behind, whether it ran in this process
// (test/support/cli.ts) or as a child (test/support/weft-process.ts), and the
// assertions of the CLI conventions on it: one place for both.
import assert from "node:assert/strict";

/** What a finished `weft` command left behind. */
export interface CliResult {
  /** The exit code, or null when a signal ended the process. */
  readonly code: number | null;
  /** The signal that ended the process (always null in process). */
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The fixture flows of the CLI tests, relative to the repository root. */
export const cliFixtures = "test/fixtures/cli";

/** The exit code and both streams, for assertion messages. */
export function explain(result: CliResult): string {
  return `exit ${result.code}${result.signal ? ` (${result.signal})` : ""}\nstdout:\n${result.stdout}\nstderr:\n${result.stderr}`;
}

/** `pattern` as a regular expression: a string matches as it is. */
export function patternOf(pattern: string | RegExp): RegExp {
  return typeof pattern === "string"
    ? new RegExp(pattern.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    : pattern;
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
  const context = `\n${explain(result)}`;
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
      `stdout is not one JSON document (${(error as Error).message}):\n${explain(result)}`,
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
