import type { Kysely, Migration } from "kysely";

/**
 * Flows of flows: a run created by a task of another run (`startFlowRun`) keeps
 * its parent's run id and the parent's task run (`slug` or `slug[i]`), so
 * `weft runs inspect` shows the parent of a run and the children of one. Plain
 * text, no foreign key: a parent run made outside this server (`weft run` with
 * WEFT_API_URL set) still names itself. Indexed to list a run's children.
 */
export const parentRunsMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable("flow_runs").addColumn("parent_run_id", "text").execute();
    await db.schema.alterTable("flow_runs").addColumn("parent_task_run", "text").execute();
    await db.schema
      .createIndex("flow_runs_parent")
      .on("flow_runs")
      .columns(["parent_run_id", "created_at"])
      .execute();
  },
};
