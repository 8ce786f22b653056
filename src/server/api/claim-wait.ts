import type { ClaimedRun } from "../../serialization/api-schemas.ts";
import type { ServerDb } from "../db/server-db.ts";

/** How a long-polling claim waits. */
export interface ClaimWaitOptions {
  /** The longest a waiting claim goes without asking the database (writes of other replicas). @default 1000 */
  readonly pollMs?: number;
}

/**
 * Claims up to `limit` runs for an agent; when none is due, waits (at most
 * `waitMs`) until one may be: this database wrote a claimable run
 * (`db.runs.onChanged`), the agent's next run falls due
 * (`db.runs.nextDue`), or the poll interval passed (writes by other server
 * replicas). `signal` (the client went away, or the server is closing) ends the wait.
 */
export async function claimWithWait(
  db: ServerDb,
  agentId: string,
  limit: number,
  waitMs: number,
  signal: AbortSignal,
  options: ClaimWaitOptions = {},
): Promise<ClaimedRun[]> {
  const pollMs = options.pollMs ?? 1000;
  const deadline = Date.now() + waitMs;
  let pastDueMisses = 0;
  for (;;) {
    // A client that went away (an agent stopping mid-wait) gets nothing: runs claimed for it
    // now would sit in Submitted, answered to no one, until run health noticed its silence.
    if (signal.aborted) return [];
    const runs = await db.runs.claim(agentId, limit);
    // The client went away while the claim was written: nobody will read this answer, so the
    // runs go back now rather than wait in Submitted for run health.
    if (signal.aborted && runs.length > 0) {
      // As for a claim an agent's heartbeat says it does not hold: back as it was, versioned.
      for (const { run } of runs) await db.runs.recoverStale({ run, reason: "not-held" }, 0);
      return [];
    }
    const left = deadline - Date.now();
    if (runs.length > 0 || left <= 0 || signal.aborted) return runs;
    const pastDue = await waitForWake(db, agentId, Math.min(left, pollMs), pastDueMisses, signal);
    pastDueMisses = pastDue ? pastDueMisses + 1 : 0;
  }
}

/**
 * Resolves at the first wake-up. Returns true when the database named a due time
 * already past (a run another agent took first, or clocks that disagree): the
 * next such wait backs off, so that it cannot spin.
 */
async function waitForWake(
  db: ServerDb,
  agentId: string,
  maxMs: number,
  pastDueMisses: number,
  signal: AbortSignal,
): Promise<boolean> {
  let wake!: () => void;
  const woken = new Promise<void>((resolve) => {
    wake = resolve;
  });
  // Listen first, then ask: a run created while nextDue is in flight still wakes us.
  const unsubscribe = db.runs.onChanged(wake);
  signal.addEventListener("abort", wake, { once: true });
  const timers = [setTimeout(wake, maxMs)];
  let pastDue = false;
  try {
    const due = await db.runs.nextDue(agentId);
    if (due !== undefined) {
      const inMs = due.getTime() - Date.now();
      pastDue = inMs <= 0;
      // +1: a timer may fire a millisecond before the clock reaches the due time.
      const delay = pastDue ? Math.min(maxMs, 10 * 2 ** Math.min(pastDueMisses, 7)) : inMs + 1;
      if (delay < maxMs) timers.push(setTimeout(wake, delay));
    }
    await woken;
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", wake);
    for (const timer of timers) clearTimeout(timer);
  }
  return pastDue;
}
