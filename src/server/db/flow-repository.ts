// Flows: registered flow versions, grouped by version group (the flow's name unless
// the caller gives one).
//
// Invariants:
// - Registration is idempotent by content hash (content-hash.ts, over the
//   structural content only): the same content again is the version that has it,
//   never a new one; new content is the group's next version. A unique key on
//   (version_group, version) makes two replicas racing to register lose one
//   write, which `writeRetrying` repeats and which then finds the winner's row.
// - One active version per group: registering archives every other version, and
//   removes the Scheduled runs the scheduler made for them (the scheduler makes
//   them again for the active one). That delete touches flow_runs, in the same
//   transaction: it is this aggregate's invariant (which version the scheduler
//   follows), so it lives here. Runs made by users keep their version.
import { randomUUID } from "node:crypto";
import { WeftError } from "../../core/errors.ts";
import type {
  FlowDetail,
  FlowSummary,
  ListFlowsQuery,
  Page,
} from "../../serialization/api-schemas.ts";
import { scheduleFromJSON } from "../../serialization/flow-serializer.ts";
import type { SerializedFlow } from "../../serialization/schemas.ts";
import { flowContentHash } from "./content-hash.ts";
import { decodeCursor, encodeCursor, toFlowDetail, toFlowSummary } from "./records.ts";
import { flowNotFound, type SqlContext } from "./sql-context.ts";

/** Registered flow versions. */
export class FlowRepository {
  constructor(private readonly ctx: SqlContext) {}

  /**
   * Registers a flow version. Idempotent by content hash over the structural
   * content, compared with every earlier version of its group (same hash: that
   * version, `created: false`; if it was archived it becomes the active one again,
   * so re-registering old code rolls back). New content: the next version of the
   * group. Either way every other version of the group is archived,
   * and the Scheduled runs the scheduler made for them are removed (the scheduler
   * makes them again for the new version). Runs made by users keep their version.
   */
  async register(
    flow: SerializedFlow,
    versionGroup: string = flow.name,
  ): Promise<{ flow: FlowSummary; created: boolean }> {
    if (flow.schedule !== undefined) {
      try {
        scheduleFromJSON(flow.schedule);
      } catch (error) {
        throw new WeftError(
          "INVALID_SCHEDULE",
          `flow "${flow.name}": ${(error as Error).message}`,
          {
            cause: error,
            ...((error as WeftError).hint ? { hint: (error as WeftError).hint! } : {}),
          },
        );
      }
    }
    const hash = flowContentHash(flow);
    const now = this.ctx.now();
    return this.ctx.writeRetrying(async (trx) => {
      let row = await trx
        .selectFrom("flows")
        .selectAll()
        .where("version_group", "=", versionGroup)
        .where("content_hash", "=", hash)
        .orderBy("version", "desc")
        .executeTakeFirst();
      const created = row === undefined;
      if (row === undefined) {
        const last = await trx
          .selectFrom("flows")
          .select((eb) => eb.fn.max("version").as("version"))
          .where("version_group", "=", versionGroup)
          .executeTakeFirst();
        row = {
          id: randomUUID(),
          name: flow.name,
          version_group: versionGroup,
          version: (last?.version ?? 0) + 1,
          content_hash: hash,
          flow: JSON.stringify(flow),
          storage: flow.storage === undefined ? null : JSON.stringify(flow.storage),
          environment: flow.environment === undefined ? null : JSON.stringify(flow.environment),
          location: flow.location ?? null,
          labels: JSON.stringify(flow.labels),
          schedule: flow.schedule === undefined ? null : JSON.stringify(flow.schedule),
          archived: 0,
          created_at: now,
        };
        await trx.insertInto("flows").values(row).execute();
      } else if (row.archived === 1) {
        await trx.updateTable("flows").set({ archived: 0 }).where("id", "=", row.id).execute();
        row = { ...row, archived: 0 };
      }
      const id = row.id;
      await trx
        .updateTable("flows")
        .set({ archived: 1 })
        .where("version_group", "=", versionGroup)
        .where("id", "!=", id)
        .where("archived", "=", 0)
        .execute();
      // The scheduler's not-yet-claimed runs of other versions go; it makes them again for this one.
      await trx
        .deleteFrom("flow_runs")
        .where("version_group", "=", versionGroup)
        .where("flow_id", "!=", id)
        .where("auto_scheduled", "=", 1)
        .where("state_type", "=", "Scheduled")
        .execute();
      return { flow: toFlowSummary(row), created };
    });
  }

  /** A flow version by id (FLOW_NOT_FOUND if none). */
  async get(id: string): Promise<FlowDetail> {
    return toFlowDetail(await this.ctx.flowRow(id));
  }

  /** The newest unarchived version of a flow by name (FLOW_NOT_FOUND if none). */
  async latest(name: string): Promise<FlowDetail> {
    const row = await this.ctx.db
      .selectFrom("flows")
      .selectAll()
      .where("name", "=", name)
      .where("archived", "=", 0)
      .orderBy("created_at", "desc")
      .orderBy("version", "desc")
      .executeTakeFirst();
    if (row === undefined) throw flowNotFound(`"${name}"`);
    return toFlowDetail(row);
  }

  /** A page of flow versions by name, newest version first. */
  async list(query: ListFlowsQuery): Promise<Page<FlowSummary>> {
    const limit = query.limit ?? 50;
    let q = this.ctx.db.selectFrom("flows").selectAll();
    if (query.name !== undefined) q = q.where("name", "=", query.name);
    const archived = query.archived ?? "false";
    if (archived !== "all") q = q.where("archived", "=", archived === "true" ? 1 : 0);
    if (query.cursor !== undefined) {
      const [name, version, id] = decodeCursor<[string, number, string]>(query.cursor, [
        "string",
        "number",
        "string",
      ]);
      q = q.where((eb) =>
        eb.or([
          eb("name", ">", name),
          eb.and([
            eb("name", "=", name),
            eb.or([
              eb("version", "<", version),
              eb.and([eb("version", "=", version), eb("id", ">", id)]),
            ]),
          ]),
        ]),
      );
    }
    const rows = await q
      .orderBy("name")
      .orderBy("version", "desc")
      .orderBy("id")
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return {
      items: items.map(toFlowSummary),
      ...(rows.length > limit && last
        ? { nextCursor: encodeCursor([last.name, last.version, last.id]) }
        : {}),
    };
  }

  /** Unarchived flow versions with a schedule (the scheduler's input). */
  async scheduled(): Promise<FlowDetail[]> {
    const rows = await this.ctx.db
      .selectFrom("flows")
      .selectAll()
      .where("archived", "=", 0)
      .where("schedule", "is not", null)
      .orderBy("name")
      .execute();
    return rows.map(toFlowDetail);
  }
}
