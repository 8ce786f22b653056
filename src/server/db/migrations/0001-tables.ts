import { type ColumnDefinitionBuilder, type Kysely, type Migration, sql } from "kysely";
import type { Dialect } from "../connection.ts";

/**
 * The first schema: flows, flow runs and their states, task runs (with their
 * states), logs, agents and API tokens, with the indexes the store's queries use.
 * Landed migrations are never edited: change the schema in a new numbered file.
 */
export function tablesMigration(dialect: Dialect): Migration {
  // An auto-numbered key: SQLite's rowid alias, PostgreSQL's identity column.
  const serialType = dialect === "sqlite" ? "integer" : "bigint";
  const serial = (c: ColumnDefinitionBuilder) =>
    dialect === "sqlite"
      ? c.primaryKey().autoIncrement()
      : c.primaryKey().generatedByDefaultAsIdentity();

  return {
    async up(db: Kysely<unknown>): Promise<void> {
      await db.schema
        .createTable("flows")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("version_group", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("content_hash", "text", (c) => c.notNull())
        .addColumn("flow", "text", (c) => c.notNull())
        .addColumn("storage", "text")
        .addColumn("environment", "text")
        .addColumn("location", "text")
        .addColumn("labels", "text", (c) => c.notNull())
        .addColumn("schedule", "text")
        .addColumn("archived", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("created_at", "text", (c) => c.notNull())
        .addUniqueConstraint("flows_group_version", ["version_group", "version"])
        .execute();
      await db.schema
        .createIndex("flows_group_hash")
        .on("flows")
        .columns(["version_group", "content_hash"])
        .execute();
      await db.schema.createIndex("flows_name").on("flows").columns(["name", "version"]).execute();

      await db.schema
        .createTable("flow_runs")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("flow_id", "text", (c) => c.notNull().references("flows.id"))
        .addColumn("flow_name", "text", (c) => c.notNull())
        .addColumn("flow_version", "integer", (c) => c.notNull())
        .addColumn("version_group", "text", (c) => c.notNull())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("parameters", "text", (c) => c.notNull())
        .addColumn("labels", "text", (c) => c.notNull())
        .addColumn("state_type", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("state_at", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("scheduled_start", "text", (c) => c.notNull())
        .addColumn("start_time", "text")
        .addColumn("end_time", "text")
        .addColumn("agent_id", "text")
        .addColumn("heartbeat_at", "text")
        .addColumn("idempotency_key", "text")
        .addColumn("auto_scheduled", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("reschedule_count", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("claim_count", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("created_at", "text", (c) => c.notNull())
        .execute();
      // Claims and nextDue: due runs of one state, oldest first.
      await db.schema
        .createIndex("flow_runs_claim")
        .on("flow_runs")
        .columns(["state_type", "scheduled_start"])
        .execute();
      // Listing, newest scheduled start first, overall and per flow.
      await db.schema
        .createIndex("flow_runs_scheduled")
        .on("flow_runs")
        .columns(["scheduled_start", "id"])
        .execute();
      await db.schema
        .createIndex("flow_runs_flow")
        .on("flow_runs")
        .columns(["flow_id", "scheduled_start"])
        .execute();
      await db.schema
        .createIndex("flow_runs_flow_name")
        .on("flow_runs")
        .columns(["flow_name", "scheduled_start"])
        .execute();
      // The scheduler's idempotency: one auto-scheduled run per group and time.
      await db.schema
        .createIndex("flow_runs_schedule_slot")
        .on("flow_runs")
        .columns(["version_group", "scheduled_start"])
        .unique()
        .where(sql.ref("auto_scheduled"), "=", 1)
        .execute();
      await db.schema
        .createIndex("flow_runs_idempotency")
        .on("flow_runs")
        .columns(["version_group", "idempotency_key"])
        .unique()
        .execute();

      await db.schema
        .createTable("flow_run_states")
        .addColumn("id", serialType, serial)
        .addColumn("flow_run_id", "text", (c) =>
          c.notNull().references("flow_runs.id").onDelete("cascade"),
        )
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        // One state per row version: a concurrent second write of a version fails here.
        .addUniqueConstraint("flow_run_states_version", ["flow_run_id", "version"])
        .execute();

      // A task run keeps its state history in the row (a JSON array, the state of
      // version v at index v - 1): one row write per task run per batch, which is what
      // lets a batch of thousands of states commit in milliseconds.
      await db.schema
        .createTable("task_runs")
        .addColumn("id", serialType, serial)
        .addColumn("flow_run_id", "text", (c) =>
          c.notNull().references("flow_runs.id").onDelete("cascade"),
        )
        .addColumn("slug", "text", (c) => c.notNull())
        .addColumn("map_index", "integer", (c) => c.notNull())
        .addColumn("state_type", "text", (c) => c.notNull())
        .addColumn("state", "text", (c) => c.notNull())
        .addColumn("version", "integer", (c) => c.notNull())
        .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
        .addColumn("start_time", "text")
        .addColumn("end_time", "text")
        .addColumn("result_ref", "text")
        .addColumn("history", "text", (c) => c.notNull())
        .addUniqueConstraint("task_runs_key", ["flow_run_id", "slug", "map_index"])
        .execute();

      await db.schema
        .createTable("logs")
        .addColumn("id", serialType, serial)
        .addColumn("flow_run_id", "text", (c) =>
          c.notNull().references("flow_runs.id").onDelete("cascade"),
        )
        .addColumn("task_slug", "text")
        .addColumn("map_index", "integer")
        .addColumn("level", "text", (c) => c.notNull())
        .addColumn("time", "double precision", (c) => c.notNull())
        .addColumn("message", "text", (c) => c.notNull())
        .addColumn("fields", "text")
        .execute();
      await db.schema.createIndex("logs_run").on("logs").columns(["flow_run_id", "id"]).execute();

      await db.schema
        .createTable("agents")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull().unique())
        .addColumn("labels", "text", (c) => c.notNull())
        .addColumn("concurrency", "integer", (c) => c.notNull())
        .addColumn("last_seen", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .execute();

      await db.schema
        .createTable("api_tokens")
        .addColumn("id", "text", (c) => c.primaryKey())
        .addColumn("name", "text", (c) => c.notNull())
        .addColumn("secret_hash", "text", (c) => c.notNull())
        .addColumn("scopes", "text", (c) => c.notNull())
        .addColumn("created_at", "text", (c) => c.notNull())
        .addColumn("revoked_at", "text")
        .execute();
      // One active token per name, so `weft token revoke <name>` is unambiguous.
      await db.schema
        .createIndex("api_tokens_active_name")
        .on("api_tokens")
        .column("name")
        .unique()
        .where(sql.ref("revoked_at"), "is", null)
        .execute();
    },
  };
}
