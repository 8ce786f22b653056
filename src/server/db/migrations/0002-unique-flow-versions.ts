import type { Kysely, Migration } from "kysely";

/**
 * One flow version per (version group, version) and per (version group, content
 * hash): on PostgreSQL two registrations of new content at once both saw no
 * such version and both inserted one. With these, the second insert fails on
 * the key and the store's retry finds the first.
 */
export const uniqueFlowVersionsMigration: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema
      .createIndex("flows_group_version_unique")
      .on("flows")
      .columns(["version_group", "version"])
      .unique()
      .execute();
    await db.schema
      .createIndex("flows_group_hash_unique")
      .on("flows")
      .columns(["version_group", "content_hash"])
      .unique()
      .execute();
  },
};
