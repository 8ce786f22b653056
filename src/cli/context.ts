import { InvalidArgumentError } from "commander";

/** What a command reads and writes: the process's streams, or a test's. */
export interface CliContext {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** What `--params-file -` reads. @default process.stdin */
  readonly stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** Set by a command to end with this exit code. */
  exitCode: number;
  /**
   * Calls `onFirst` at the first Ctrl-C (or SIGTERM), after printing `notice`;
   * a second one prints `secondNotice` (when given) and exits at once with 130.
   * Returns a function that stops listening.
   */
  onInterrupt(onFirst: () => void, notice?: string, secondNotice?: string): () => void;
  /**
   * Sends what the process writes to its stdout (tasks printing) to stderr
   * until the returned function is called (idempotent), so that `--json` keeps
   * stdout to one document. A context that owns no process (a test's) leaves
   * the process's streams alone.
   */
  divertStdout(): () => void;
}

/** Collects a repeatable option's values. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Parses a positive integer option value. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(value)}`);
  return n;
}
