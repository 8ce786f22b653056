import type { Logger } from "../../core/reporter.ts";
import type { ServerDb } from "../db/server-db.ts";

/** A loop the server runs in the background: one tick now and then, on one replica at a time. */
export interface ServerLoop {
  /** Runs one tick now (if this process leads; rejects when the tick fails). */
  tick(): Promise<void>;
  /** Ticks every interval from now on (a failed tick is logged, the loop goes on). */
  start(): void;
  /** Stops ticking and waits for a tick in progress. */
  stop(): Promise<void>;
}

/**
 * The loop machinery shared by the scheduler and run health: each tick runs
 * inside `db.asLeader(name, …)`, ticks never overlap (the next is timed from
 * the end of the last), and the timer does not keep the process alive.
 */
export function createServerLoop(options: {
  name: string;
  db: ServerDb;
  logger: Logger;
  intervalMs: number;
  body: () => Promise<void>;
  /** Called when a tick fails (the database could not be reached, say), before it is logged or thrown. */
  onFailure?: (error: unknown) => void;
}): ServerLoop {
  const { name, db, logger, intervalMs, body } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let started = false;

  const tick = async (): Promise<void> => {
    // A tick asked for while one runs joins it instead of running twice at once.
    if (running !== undefined) return running;
    running = (async () => {
      const led = await db.asLeader(name, body);
      if (!led) logger.debug(`${name}: another server replica leads; skipped this tick`);
    })();
    try {
      await running;
    } catch (error) {
      options.onFailure?.(error);
      throw error;
    } finally {
      running = undefined;
    }
  };

  const schedule = () => {
    timer = setTimeout(() => {
      tick()
        .catch((error: unknown) =>
          logger.error(`${name}: tick failed: ${(error as Error)?.message ?? String(error)}`, {
            code: (error as { code?: unknown })?.code,
          }),
        )
        .finally(() => {
          if (started) schedule();
        });
    }, intervalMs);
    timer.unref();
  };

  return {
    tick,
    start() {
      if (started) return;
      started = true;
      schedule();
    },
    async stop() {
      started = false;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await running?.catch(() => {});
    },
  };
}
