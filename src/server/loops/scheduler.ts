import type { Logger } from "../../core/reporter.ts";
import { scheduleFromJSON } from "../../serialization/flow-serializer.ts";
import type { ServerDb } from "../db/server-db.ts";
import { createServerLoop, type ServerLoop } from "./server-loop.ts";

/** How the scheduler runs. */
export interface SchedulerOptions {
  readonly db: ServerDb;
  readonly logger: Logger;
  /** The clock (tests move it). @default () => new Date() */
  readonly now?: () => Date;
  /** Time between ticks. @default 10000 */
  readonly intervalMs?: number;
  /** How many upcoming runs of each scheduled flow are kept created. @default 10 */
  readonly horizon?: number;
}

/**
 * The scheduler loop: every tick, for each unarchived flow version with a
 * schedule (cron with time zone, interval or dates), makes sure its next
 * `horizon` runs exist. Creation is idempotent by (version group, scheduled
 * time), so restarts and replicas never duplicate a run; each tick runs on the
 * leading replica only. Times already past are not made up for.
 * @example
 * const scheduler = createScheduler({ db, logger });
 * scheduler.start(); // … await scheduler.stop();
 */
export function createScheduler(options: SchedulerOptions): ServerLoop {
  const { db, logger } = options;
  const now = options.now ?? (() => new Date());
  const horizon = options.horizon ?? 10;

  const body = async () => {
    const flows = await db.flows.scheduled();
    const at = now();
    for (const flow of flows) {
      try {
        const times = scheduleFromJSON(flow.schedule).next(horizon, at);
        const created = await db.runs.createScheduled(flow.id, times);
        if (created > 0)
          logger.info(`scheduler: created ${created} run(s) of ${flow.name} v${flow.version}`, {
            flowId: flow.id,
          });
      } catch (error) {
        // One flow that cannot be scheduled (a required parameter without default…)
        // must not keep the others from being scheduled.
        logger.warn(
          `scheduler: cannot schedule ${flow.name} v${flow.version}: ${(error as Error).message}`,
          { flowId: flow.id, code: (error as { code?: unknown }).code },
        );
      }
    }
  };

  return createServerLoop({
    name: "scheduler",
    db,
    logger,
    intervalMs: options.intervalMs ?? 10_000,
    body,
  });
}
