import type { Kysely, Migration } from "kysely";

/**
 * Concurrency limits by task tag: `concurrency_limits` holds each tag's limit,
 * `concurrency_slots` one row per slot taken. The key (tag, slot) is what makes
 * an acquisition one conditional write: two task runs racing for slot k of a tag
 * insert the same key, and exactly one row lands (as one claim wins a run). The
 * holder's key (flow run, task slug, map index, tag) makes a repeated
 * acquisition find the slot it already holds; the flow-run index serves the
 * releases of a whole run (final state, recovery).
 */
export const concurrencyLimitsMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createTable("concurrency_limits")
      .addColumn("tag", "text", (c) => c.primaryKey())
      .addColumn("slot_limit", "integer", (c) => c.notNull())
      .addColumn("created_at", "text", (c) => c.notNull())
      .addColumn("updated_at", "text", (c) => c.notNull())
      .execute();
    await db.schema
      .createTable("concurrency_slots")
      .addColumn("tag", "text", (c) => c.notNull())
      .addColumn("slot", "integer", (c) => c.notNull())
      .addColumn("flow_run_id", "text", (c) => c.notNull())
      .addColumn("task_slug", "text", (c) => c.notNull())
      .addColumn("map_index", "integer", (c) => c.notNull())
      .addColumn("acquired_at", "text", (c) => c.notNull())
      .addPrimaryKeyConstraint("concurrency_slots_key", ["tag", "slot"])
      .addUniqueConstraint("concurrency_slots_holder", [
        "flow_run_id",
        "task_slug",
        "map_index",
        "tag",
      ])
      .execute();
  },
};
