import { isWeftError } from "../core/errors.ts";

/** How a retried call backs off. */
export interface BackoffOptions {
  /** First delay. @default 100 */
  readonly initialMs?: number;
  /** Largest delay. @default 5000 */
  readonly maxMs?: number;
  /** Give up (rethrow the last error) after this long. @default Infinity */
  readonly deadlineMs?: number;
  /** Stops retrying at once (the last error is rethrown). */
  readonly signal?: AbortSignal;
  /** Hears each failed try before its delay. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/**
 * True for an error worth retrying: the server could not be reached, or
 * answered that it is unavailable (5xx, or a database it cannot reach).
 * Everything else (bad request, not found, conflict, auth) fails the same way twice.
 */
export function isTransient(error: unknown): boolean {
  if (!isWeftError(error)) return false;
  if (error.code === "API_UNREACHABLE" || error.code === "DATABASE_UNAVAILABLE") return true;
  const status = (error as { status?: unknown }).status;
  return typeof status === "number" && (status === 0 || status >= 500);
}

/**
 * Calls `call` until it succeeds, retrying transient errors with exponential
 * backoff and full jitter; a permanent error, the deadline or the signal ends it.
 */
export async function retryTransient<T>(
  call: () => Promise<T>,
  options: BackoffOptions = {},
): Promise<T> {
  const initial = options.initialMs ?? 100;
  const max = options.maxMs ?? 5000;
  const deadline = Date.now() + (options.deadlineMs ?? Number.POSITIVE_INFINITY);
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (!isTransient(error) || options.signal?.aborted) throw error;
      const ceiling = Math.min(max, initial * 2 ** (attempt - 1));
      const delay = Math.min(
        Math.round(ceiling / 2 + Math.random() * (ceiling / 2)),
        deadline - Date.now(),
      );
      if (delay <= 0) throw error;
      options.onRetry?.(error, attempt, delay);
      await sleep(delay, options.signal);
    }
  }
}

/** Resolves after `ms`, or early when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
