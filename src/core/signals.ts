/** What a task signals by throwing: end Skipped, or end Failed without retrying. */
export type SignalKind = "skip" | "fail";

/**
 * Thrown inside a task: the task ends Skipped (a kind of Success) and, unless a
 * downstream task opts out with `skipOnUpstreamSkip: false`, so do its dependents.
 * @example
 * if (rows.length === 0) throw new Skip("no new rows today");
 */
export class Skip extends Error {
  readonly signal: SignalKind = "skip";
  constructor(message = "skipped") {
    super(message);
    this.name = "Skip";
  }
}

/**
 * Thrown inside a task: the task ends Failed at once, with no retry.
 * @example
 * if (!response.ok) throw new Fail(`upstream answered ${response.status}`);
 */
export class Fail extends Error {
  readonly signal: SignalKind = "fail";
  constructor(message = "failed") {
    super(message);
    this.name = "Fail";
  }
}

/**
 * The signal an error carries, if any. Checks the shape, not the class, so it
 * holds for errors made by another copy of weft or rebuilt after crossing a thread.
 */
export function signalOf(error: unknown): SignalKind | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const signal = (error as { signal?: unknown }).signal;
  if (signal === "skip" || signal === "fail") return signal;
  const name = (error as { name?: unknown }).name;
  if (name === "Skip") return "skip";
  if (name === "Fail") return "fail";
  return undefined;
}
