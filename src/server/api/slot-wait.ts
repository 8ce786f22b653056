import type { AcquireSlotsRequest, AcquireSlotsResponse } from "../../serialization/api-schemas.ts";
import type { ServerDb } from "../db/server-db.ts";

/** How a long-polling slot acquisition waits. */
export interface SlotWaitOptions {
  /** The longest a waiting acquisition goes without asking the database (releases by other replicas). @default 1000 */
  readonly pollMs?: number;
}

/**
 * Takes the slots a task run needs (LimitRepository.acquire); when a limit is
 * full, waits (at most `request.waitMs`) until this server frees a slot or
 * changes a limit (`db.limits.onReleased`), or the poll interval passed (writes
 * of other replicas, run health's releases), and tries again. So a waiting task
 * costs one request per `waitMs` and one query per wake-up, never a busy loop.
 * `signal` (the client went away, the server is closing) ends the wait.
 */
export async function acquireWithWait(
  db: ServerDb,
  flowRunId: string,
  request: AcquireSlotsRequest,
  signal: AbortSignal,
  options: SlotWaitOptions = {},
): Promise<AcquireSlotsResponse> {
  const pollMs = options.pollMs ?? 1000;
  const deadline = Date.now() + request.waitMs;
  for (;;) {
    // Listen first, then ask: a slot freed while the acquisition is in flight still wakes us.
    let wake!: () => void;
    const woken = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const unsubscribe = db.limits.onReleased(wake);
    try {
      const answer = await db.limits.acquire(flowRunId, request);
      // A client that went away gets nothing: what it took now would be held for no one.
      if (signal.aborted) {
        if (answer.acquired) await db.limits.release(flowRunId, request.slug, request.mapIndex);
        return { acquired: false, ...(answer.waitingFor ? { waitingFor: answer.waitingFor } : {}) };
      }
      const left = deadline - Date.now();
      if (answer.acquired || left <= 0) return answer;
      signal.addEventListener("abort", wake, { once: true });
      const timer = setTimeout(wake, Math.min(left, pollMs));
      try {
        await woken;
      } finally {
        clearTimeout(timer);
        signal.removeEventListener("abort", wake);
      }
      if (signal.aborted) return answer;
    } finally {
      unsubscribe();
    }
  }
}
