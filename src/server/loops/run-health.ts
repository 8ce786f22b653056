import type { Logger } from "../../core/reporter.ts";
import type { Store } from "../store/store.ts";
import { createServerLoop, type ServerLoop } from "./server-loop.ts";

/** How run health runs. */
export interface RunHealthOptions {
  readonly store: Store;
  readonly logger: Logger;
  /** The clock (tests move it). @default () => new Date() */
  readonly now?: () => Date;
  /** Time between ticks. @default 15000 */
  readonly intervalMs?: number;
  /**
   * How long a run may stay Submitted (claimed by an agent, not yet Running)
   * before it counts as never started. Generous, since deploying may pull images.
   * @default 300000
   */
  readonly submittedTimeoutMs?: number;
  /**
   * How long a Running run may go without a heartbeat (agents send one every 5 s)
   * before its heartbeats count as stopped.
   * @default 60000
   */
  readonly heartbeatTimeoutMs?: number;
  /** How many times a stale run is put back to Scheduled before it is failed. @default 3 */
  readonly maxReschedules?: number;
}

/**
 * The run-health loop: finds runs that were submitted but never started and
 * runs whose heartbeats stopped, tells the two apart, puts each back to
 * Scheduled up to `maxReschedules` times, then fails it with a message saying
 * which it was. A run that moved on since it was found (it started, sent a
 * state, was claimed again) is left alone: recovery is a versioned write. A
 * Cancelling run whose heartbeats stopped is marked Cancelled.
 */
export function createRunHealth(options: RunHealthOptions): ServerLoop {
  const { store, logger } = options;
  const now = options.now ?? (() => new Date());
  const submittedTimeoutMs = options.submittedTimeoutMs ?? 300_000;
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 60_000;
  const maxReschedules = options.maxReschedules ?? 3;

  const body = async () => {
    const at = now().getTime();
    const stale = await store.findStaleRuns({
      submittedBefore: new Date(at - submittedTimeoutMs),
      heartbeatBefore: new Date(at - heartbeatTimeoutMs),
    });
    for (const found of stale) {
      const run = await store.recoverStaleRun(found, maxReschedules);
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
    store,
    logger,
    intervalMs: options.intervalMs ?? 15_000,
    body,
  });
}
