// Signals: errors a task body throws on purpose to choose its next state.
// Skip and Fail end the task; Loop runs it again with an interim result; Pause
// waits for approval (as manual_only does); Retry forces another attempt;
// Succeed ends Success with a result. A signal crosses threads and queues as
// data (engine/task-host.ts folds it into the attempt's outcome), so it is
// recognised by its shape (`signal` or `name`), never by `instanceof`.

/** Every signal a task can throw, as the `signal` field its error carries. */
export const SIGNAL_KINDS = ["skip", "fail", "loop", "pause", "retry", "succeed"] as const;

/** What a task signals by throwing (one of {@link SIGNAL_KINDS}). */
export type SignalKind = (typeof SIGNAL_KINDS)[number];

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

/** What {@link Loop} carries to the next iteration. */
export interface LoopOptions {
  /** The interim result: the next iteration reads it as `context().loop.result`. */
  result?: unknown;
  /** Shown on the task's `Looped` state. */
  message?: string;
}

/**
 * Thrown inside a task: the task runs again at once, and the next iteration
 * sees `context().loop` = `{ count: previous + 1, result }`. Each iteration is a
 * `Looped` state in the task's history; the task option `maxLoops` bounds them.
 * @example
 * const sum = task("sum-pages", async () => {
 *   const { count, result } = context().loop;
 *   const total = (result as number | undefined) ?? 0;
 *   const page = await fetchPage(count);
 *   if (page.next) throw new Loop({ result: total + page.items.length });
 *   return total + page.items.length;
 * });
 */
export class Loop extends Error {
  readonly signal: SignalKind = "loop";
  readonly result: unknown;
  constructor(options: LoopOptions = {}) {
    super(options.message ?? "looped");
    this.name = "Loop";
    this.result = options.result;
  }
}

/**
 * Thrown inside a task: the task ends Paused, waiting for approval as a
 * `manual_only` task does; the run ends Paused and the task's downstream tasks
 * wait. A later run with the task approved (`approve: [slug]`, `--approve slug`)
 * runs it again, with `context().approved` true.
 * @example
 * if (!context().approved) throw new Pause("a person checks the report first");
 */
export class Pause extends Error {
  readonly signal: SignalKind = "pause";
  constructor(message = "paused: waiting for approval") {
    super(message);
    this.name = "Pause";
  }
}

/** How {@link Retry} asks for the next attempt. */
export interface RetryOptions {
  /** Milliseconds before the next attempt. @default the task's retryDelay */
  delay?: number;
  /** Shown on the task's `Retrying` state. */
  message?: string;
}

/**
 * Thrown inside a task: the task is retried even when its `retries` are used
 * up (Prefect's RETRY). Forced retries count as attempts (`context().attempt`)
 * and, with loops, against the task's `maxLoops`.
 * @example
 * if (response.status === 429) throw new Retry({ delay: 5_000, message: "rate limited" });
 */
export class Retry extends Error {
  readonly signal: SignalKind = "retry";
  readonly delay: number | undefined;
  constructor(options: RetryOptions = {}) {
    super(options.message ?? "retry requested");
    this.name = "Retry";
    this.delay = options.delay;
  }
}

/** What {@link Succeed} ends the task with. */
export interface SucceedOptions {
  /** The task's result. */
  result?: unknown;
  /** Shown on the task's `Success` state. */
  message?: string;
}

/**
 * Thrown inside a task: the task ends Success at once with `result` (useful deep
 * in a call stack, or from a loop).
 * @example
 * if (alreadyDone) throw new Succeed({ result: previous, message: "nothing new" });
 */
export class Succeed extends Error {
  readonly signal: SignalKind = "succeed";
  readonly result: unknown;
  constructor(options: SucceedOptions = {}) {
    super(options.message ?? "succeeded");
    this.name = "Succeed";
    this.result = options.result;
  }
}

const BY_NAME: Readonly<Record<string, SignalKind>> = {
  Skip: "skip",
  Fail: "fail",
  Loop: "loop",
  Pause: "pause",
  Retry: "retry",
  Succeed: "succeed",
};

/**
 * The signal an error carries, if any. Checks the shape, not the class, so it
 * holds for errors made by another copy of weft or rebuilt after crossing a thread.
 */
export function signalOf(error: unknown): SignalKind | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const signal = (error as { signal?: unknown }).signal;
  if (typeof signal === "string" && (SIGNAL_KINDS as readonly string[]).includes(signal))
    return signal as SignalKind;
  const name = (error as { name?: unknown }).name;
  return typeof name === "string" && Object.hasOwn(BY_NAME, name) ? BY_NAME[name] : undefined;
}
