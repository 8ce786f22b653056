import type { Kysely, Migration } from "kysely";

/**
 * Indexes for the web UI's reads of many runs. The runs list filters by state or flow
 * name and pages newest first by (scheduled_start, id) with a row-value cursor: an index
 * that ends in both keeps each page an index walk that stops after `limit` rows, where
 * the earlier (state_type, scheduled_start) and (flow_name, scheduled_start) ones left a
 * sort of every matching run for the id. The dashboard buckets and lists runs by end time.
 */
export const runListIndexesMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createIndex("flow_runs_state_list")
      .on("flow_runs")
      .columns(["state_type", "scheduled_start", "id"])
      .execute();
    await db.schema
      .createIndex("flow_runs_flow_name_list")
      .on("flow_runs")
      .columns(["flow_name", "scheduled_start", "id"])
      .execute();
    // Both filters at once: walking either index alone may read every run of that state or
    // flow to find a page of the few that match the other.
    await db.schema
      .createIndex("flow_runs_flow_state_list")
      .on("flow_runs")
      .columns(["flow_name", "state_type", "scheduled_start", "id"])
      .execute();
    await db.schema.createIndex("flow_runs_ended").on("flow_runs").columns(["end_time"]).execute();
  },
};
