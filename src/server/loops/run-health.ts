import type { Logger } from "../../core/reporter.ts";
import type { ServerDb } from "../db/server-db.ts";
import { createServerLoop, type ServerLoop } from "./server-loop.ts";

/** How run health runs. */
export interface RunHealthOptions {
  readonly db: ServerDb;
  readonly logger: Logger;
  /** The clock (tests move it). @default () => new Date() */
  readonly now?: () => Date;
  /** Time between ticks. @default 5000 */
  readonly intervalMs?: number;
  /**
   * How long a run may stay Submitted (claimed by an agent, not yet Running)
   * while its agent is alive and holds it, before it counts as never started.
   * Generous, since deploying may pull images; a run whose agent went silent,
   * or whose agent says it does not hold it, is freed long before.
   * @default 300000
   */
  readonly submittedTimeoutMs?: number;
  /**
   * How long a Running run may go without a heartbeat (agents send one every 5 s)
   * before its heartbeats count as stopped.
   * @default 25000
   */
  readonly heartbeatTimeoutMs?: number;
  /**
   * How long an agent may go without a heartbeat (agents send one every 5 s)
   * before it counts as gone: its Submitted runs go back to Scheduled at once,
   * and its Running runs too when their own heartbeats stopped as long.
   * @default 20000
   */
  readonly agentTimeoutMs?: number;
  /** How many times a stale run is put back to Scheduled before it is failed. @default 3 */
  readonly maxReschedules?: number;
}

/**
 * The run-health loop: finds runs that were submitted but never started, runs
 * whose heartbeats stopped and runs whose agent stopped sending heartbeats,
 * tells them apart, puts each back to Scheduled up to `maxReschedules` times,
 * then fails it with a message saying which it was. A run that moved on since
 * it was found (it started, sent a state, was claimed again) is left alone:
 * recovery is a versioned write. A Cancelling run whose heartbeats stopped is
 * marked Cancelled.
 *
 * Silence is counted only while run health could see the database: after it
 * starts, after a tick that failed (the database was unreachable, so no
 * heartbeat could be written either) and after a tick that came far too late
 * (this process stalled), each timeout runs from that moment, so a database
 * outage, a server restart or a blocked `weft up` process never reschedules
 * healthy runs.
 */
export function createRunHealth(options: RunHealthOptions): ServerLoop {
  const { db, logger } = options;
  const now = options.now ?? (() => new Date());
  const submittedTimeoutMs = options.submittedTimeoutMs ?? 300_000;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 25_000;
  const agentTimeoutMs = options.agentTimeoutMs ?? 20_000;
  const maxReschedules = options.maxReschedules ?? 3;
  const intervalMs = options.intervalMs ?? 5_000;
  /** Since when run health has seen the database without a gap (undefined: from the next tick). */
  let seenSince: number | undefined;
  /** When (monotonic, real time) the last tick's body ended. */
  let lastBodyEnd: number | undefined;

  const body = async () => {
    // A tick much later than its interval means this process stalled (its event loop
    // blocked, as a CPU-bound task of a co-located agent does; or it was suspended) or
    // it did not lead meanwhile: heartbeats it could not see do not count as missed.
    if (lastBodyEnd !== undefined && performance.now() - lastBodyEnd > 2 * intervalMs + 1000)
      seenSince = undefined;
    try {
      await check();
    } finally {
      lastBodyEnd = performance.now();
    }
  };

  const check = async () => {
    const at = now().getTime();
    seenSince ??= at;
    const since = seenSince;
    // A limit whose timeout has not yet run since the database was seen finds nothing.
    const before = (timeoutMs: number) =>
      at - timeoutMs >= since ? new Date(at - timeoutMs) : undefined;
    const stale = await db.runs.findStale({
      submittedBefore: before(submittedTimeoutMs),
      heartbeatBefore: before(heartbeatTimeoutMs),
      agentSeenBefore: before(agentTimeoutMs),
    });
    for (const found of stale) {
      const run = await db.runs.recoverStale(found, maxReschedules);
      if (run === undefined) continue;
      logger.warn(`run health: flow run ${run.id} (${run.flowName}): ${run.state.message}`, {
        flowRunId: run.id,
        reason: found.reason,
        state: run.state.type,
      });
    }
  };

  return createServerLoop({
    name: "run-health",
    db,
    logger,
    intervalMs,
    body,
    onFailure: () => {
      seenSince = undefined;
    },
  });
}
