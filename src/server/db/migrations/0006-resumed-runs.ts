import type { Kysely, Migration } from "kysely";

/**
 * Resumed runs (POST /api/flow-runs/:id/resume): a run made to resume another
 * keeps that run's id, and the task slugs approved for it (a JSON array), which
 * its agent hands to the flow-run process. Plain text, no foreign key and no
 * index: nothing looks runs up by them, and the run resumed may be deleted.
 */
export const resumedRunsMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("flow_runs").addColumn("resumed_from", "text").execute();
    await db.schema.alterTable("flow_runs").addColumn("approved", "text").execute();
  },
};
