import { inspect } from "node:util";

/**
 * Every state type, as in Prefect's tree:
 * Pending (Scheduled → Retrying, Submitted, Paused), Running (Cancelling, Looped),
 * Finished (Success → Cached, Mapped, Skipped; Failed → TriggerFailed, TimedOut; Cancelled).
 */
export const STATE_TYPES = [
  "Pending",
  "Scheduled",
  "Submitted",
  "Retrying",
  "Paused",
  "Running",
  "Cancelling",
  "Looped",
  "Finished",
  "Success",
  "Cached",
  "Mapped",
  "Skipped",
  "Failed",
  "TriggerFailed",
  "TimedOut",
  "Cancelled",
] as const;

/** One of {@link STATE_TYPES}. */
export type StateType = (typeof STATE_TYPES)[number];

/** The parent of each state type in the tree (`undefined` for the three roots). */
export const STATE_PARENT: Readonly<Record<StateType, StateType | undefined>> = {
  Pending: undefined,
  Scheduled: "Pending",
  Submitted: "Pending",
  Retrying: "Scheduled",
  Paused: "Pending",
  Running: undefined,
  Cancelling: "Running",
  // One iteration of a task that threw Loop ended; the next starts at once. Prefect files it
  // under Finished; here the task run is still going, so it stays Running for everyone watching.
  Looped: "Running",
  Finished: undefined,
  Success: "Finished",
  Cached: "Success",
  Mapped: "Success",
  Skipped: "Success",
  Failed: "Finished",
  TriggerFailed: "Failed",
  TimedOut: "Failed",
  Cancelled: "Finished",
};

/** True when `type` is `ancestor` or lies below it in the state tree. */
export function isStateA(type: StateType, ancestor: StateType): boolean {
  let t: StateType | undefined = type;
  while (t !== undefined) {
    if (t === ancestor) return true;
    t = STATE_PARENT[t];
  }
  return false;
}

function familyOf(root: StateType): ReadonlySet<StateType> {
  return new Set(STATE_TYPES.filter((t) => isStateA(t, root)));
}
const PENDING = familyOf("Pending");
const RUNNING = familyOf("Running");
const FINISHED = familyOf("Finished");
const SUCCESSFUL = familyOf("Success");
const FAILED = familyOf("Failed");

/** A task's or flow's error as plain data, so it crosses threads, processes and the API intact. */
export interface ErrorData {
  /** The error's class name (`TypeError`), or `NonError` when something else was thrown. */
  readonly type: string;
  readonly message: string;
  readonly stack?: string;
  /** A weft error code, when the error carried one. */
  readonly code?: string;
  /** How to fix it, when the error said. */
  readonly hint?: string;
  /**
   * False when another attempt cannot help (the task threw `Fail`, or its inputs
   * cannot reach a worker): the task runner does not retry. Set only on a task
   * attempt's outcome (engine/task-host.ts); a state's error never carries it.
   */
  readonly retryable?: boolean;
}

/**
 * The longest error message, and the longest stack, that leaves a flow-run
 * process (in characters): 64 KiB each. Longer ones are cut by
 * {@link truncateText}, which keeps the beginning and says how much was cut.
 */
export const ERROR_TEXT_LIMIT = 64 * 1024;

/**
 * `text` when it has at most `limit` characters; else its beginning followed by
 * `… [truncated 17,000,000 characters]`, `limit` characters in all.
 */
export function truncateText(text: string, limit: number = ERROR_TEXT_LIMIT): string {
  if (text.length <= limit) return text;
  // The marker for the most that can be cut is at least as long as the real one.
  const room = Math.max(0, limit - truncationMarker(text.length).length);
  let keep = room;
  // Never split a surrogate pair.
  const last = text.charCodeAt(keep - 1);
  if (keep > 0 && last >= 0xd800 && last <= 0xdbff) keep--;
  return `${text.slice(0, keep)}${truncationMarker(text.length - keep)}`;
}

function truncationMarker(cut: number): string {
  return `… [truncated ${cut.toLocaleString("en-US")} characters]`;
}

/**
 * Converts anything thrown into {@link ErrorData}: the one place where this
 * happens. Messages and stacks are cut to {@link ERROR_TEXT_LIMIT}, so that a
 * huge one cannot keep a state from reaching the server.
 */
export function toErrorData(thrown: unknown): ErrorData {
  if (thrown instanceof Error) {
    const code = (thrown as { code?: unknown }).code;
    const hint = (thrown as { hint?: unknown }).hint;
    const message = typeof thrown.message === "string" ? thrown.message : String(thrown.message);
    return {
      type: thrown.name || thrown.constructor?.name || "Error",
      message: truncateText(message),
      ...(typeof thrown.stack === "string" ? { stack: truncateText(thrown.stack) } : {}),
      ...(typeof code === "string" ? { code } : {}),
      ...(typeof hint === "string" ? { hint: truncateText(hint) } : {}),
    };
  }
  if (isErrorData(thrown)) {
    const { message, stack } = thrown;
    if (
      message.length <= ERROR_TEXT_LIMIT &&
      (stack === undefined || stack.length <= ERROR_TEXT_LIMIT)
    )
      return thrown;
    return {
      ...thrown,
      message: truncateText(message),
      ...(stack === undefined ? {} : { stack: truncateText(stack) }),
    };
  }
  return {
    type: "NonError",
    message: truncateText(
      `threw a non-Error value: ${inspect(thrown, { depth: 2, breakLength: Number.POSITIVE_INFINITY })}`,
    ),
  };
}

function isErrorData(value: unknown): value is ErrorData {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as ErrorData).type === "string" &&
    typeof (value as ErrorData).message === "string" &&
    Object.keys(value).every(
      (k) => k === "type" || k === "message" || k === "stack" || k === "code",
    )
  );
}

/**
 * The state of a task run, a mapped child or a flow run. Immutable by convention.
 *
 * Memory: a run keeps every task's final state, so a million-task flow keeps a
 * million of these. Five fields are always own properties (type, timestamp,
 * result, startedAt, attempts); the rarer ones (message, error, retryAt,
 * children, knownChildCount, location) become own properties only when given, and
 * read `undefined` from the prototype otherwise. A Success costs five fields
 * instead of eleven; the few shapes that result keep the hot path's reads
 * polymorphic at worst, never megamorphic.
 */
export class State {
  declare readonly type: StateType;
  /** When this state was entered (ms since the epoch). */
  declare readonly timestamp: number;
  /** The value a successful run produced (`undefined` otherwise). */
  declare readonly result: unknown;
  /** When the run started (ms), on finished states. */
  declare readonly startedAt: number | undefined;
  /** How many attempts were made (1 = no retry). */
  declare readonly attempts: number;
  declare readonly message: string | undefined;
  /** What went wrong, for Failed states. */
  declare readonly error: ErrorData | undefined;
  /** For Retrying: when the next attempt starts (ms since the epoch). */
  declare readonly retryAt: number | undefined;
  /** For Mapped: the children's states, by map index. */
  declare readonly children: readonly State[] | undefined;
  /** For a Mapped state rebuilt from JSON, where only the number of children travels. */
  declare private readonly knownChildCount: number | undefined;
  /** Where the result was persisted, when it was (a result backend location). */
  declare readonly location: string | undefined;

  constructor(
    type: StateType,
    message: string | undefined = undefined,
    result: unknown = undefined,
    error: ErrorData | undefined = undefined,
    startedAt: number | undefined = undefined,
    attempts = 0,
    retryAt: number | undefined = undefined,
    children: readonly State[] | undefined = undefined,
    timestamp?: number,
    knownChildCount?: number,
    location?: string,
  ) {
    // The always-present fields first, in one order, so that states share few shapes.
    this.type = type;
    this.timestamp = timestamp ?? Date.now();
    this.result = result;
    this.startedAt = startedAt;
    this.attempts = attempts;
    if (message !== undefined) this.message = message;
    if (error !== undefined) this.error = error;
    if (retryAt !== undefined) this.retryAt = retryAt;
    if (children !== undefined) this.children = children;
    if (knownChildCount !== undefined) this.knownChildCount = knownChildCount;
    if (location !== undefined) this.location = location;
  }

  /** How many children a Mapped state has (also when only the count is known). */
  get childCount(): number | undefined {
    return this.children?.length ?? this.knownChildCount;
  }

  /** A finished state holding a result (persisted at `location`, when it was). */
  static withResult(
    type: "Success" | "Cached",
    message: string | undefined,
    result: unknown,
    startedAt: number,
    attempts: number,
    location: string | undefined,
  ): State {
    return new State(
      type,
      message,
      result,
      undefined,
      startedAt,
      attempts,
      undefined,
      undefined,
      undefined,
      undefined,
      location,
    );
  }

  /** Pending or one of its subtypes. */
  isPending(): boolean {
    return PENDING.has(this.type);
  }
  /** Running, Cancelling or Looped. */
  isRunning(): boolean {
    return RUNNING.has(this.type);
  }
  /** Any terminal state. */
  isFinished(): boolean {
    return FINISHED.has(this.type);
  }
  /** Success or one of its subtypes (Cached, Mapped, Skipped). */
  isSuccessful(): boolean {
    return SUCCESSFUL.has(this.type);
  }
  /** Failed or one of its subtypes (TriggerFailed, TimedOut). */
  isFailed(): boolean {
    return FAILED.has(this.type);
  }
  /** Skipped. */
  isSkipped(): boolean {
    return this.type === "Skipped";
  }
  /** How long the run took, when both ends are known. */
  get durationMs(): number | undefined {
    return this.startedAt === undefined ? undefined : this.timestamp - this.startedAt;
  }

  /** A plain-data view (what reporters, `--json` and the API print). */
  toJSON(): Record<string, unknown> {
    return {
      type: this.type,
      ...(this.message === undefined ? {} : { message: this.message }),
      timestamp: new Date(this.timestamp).toISOString(),
      ...(this.startedAt === undefined
        ? {}
        : { startedAt: new Date(this.startedAt).toISOString() }),
      ...(this.attempts === 0 ? {} : { attempts: this.attempts }),
      ...(this.retryAt === undefined ? {} : { retryAt: new Date(this.retryAt).toISOString() }),
      ...(this.error === undefined ? {} : { error: this.error }),
      ...(this.childCount === undefined ? {} : { children: this.childCount }),
      ...(this.location === undefined ? {} : { location: this.location }),
    };
  }
}
