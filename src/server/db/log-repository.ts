// Logs: records a flow-run process sends, read back in the order they were
// stored. Invariant: a batch is one transaction and names only runs that exist
// (FLOW_RUN_NOT_FOUND otherwise, nothing stored); the cursor is the serial id, so
// a reader paging while records arrive misses none and sees none twice. After the
// commit, the records of runs someone follows go to the change feed as the list
// route pages them (the insert returns their ids only then).
import type { LogEntry, Page } from "../../serialization/api-schemas.ts";
import type { ChangeFeed } from "./change-feed.ts";
import { chunks, decodeCursor, encodeCursor } from "./records.ts";
import { runNotFound, type SqlContext } from "./sql-context.ts";

type LogRow = {
  id: number;
  flow_run_id: string;
  task_slug: string | null;
  map_index: number | null;
  level: string;
  time: number;
  message: string;
  fields: string | null;
};

/** A stored log row as the API shows it. */
function toLogEntry(r: LogRow): LogEntry {
  return {
    id: String(r.id),
    flowRunId: r.flow_run_id,
    level: r.level as LogEntry["level"],
    time: r.time,
    message: r.message,
    ...(r.task_slug === null ? {} : { taskSlug: r.task_slug }),
    ...(r.map_index === null ? {} : { mapIndex: r.map_index }),
    ...(r.fields === null ? {} : { fields: JSON.parse(r.fields) }),
  };
}

/** Log records of flow runs. */
export class LogRepository {
  constructor(
    private readonly ctx: SqlContext,
    private readonly feed: ChangeFeed,
  ) {}

  /** Stores log records in one transaction (FLOW_RUN_NOT_FOUND naming a run that does not exist). */
  async insert(records: readonly Omit<LogEntry, "id">[]): Promise<void> {
    if (records.length === 0) return;
    const maxParameters = this.ctx.connection.maxParameters;
    const runIds = [...new Set(records.map((r) => r.flowRunId))];
    const rows = records.map((r) => ({
      flow_run_id: r.flowRunId,
      task_slug: r.taskSlug ?? null,
      map_index: r.mapIndex ?? null,
      level: r.level,
      time: r.time,
      message: r.message,
      fields: r.fields === undefined ? null : JSON.stringify(r.fields),
    }));
    const wanted = runIds.some((id) => this.feed.wantsTasks(id));
    const stored: LogRow[] = [];
    await this.ctx.write(async (trx) => {
      stored.length = 0;
      for (const ids of chunks(runIds, maxParameters)) {
        const found = await trx
          .selectFrom("flow_runs")
          .select("id")
          .where("id", "in", ids)
          .execute();
        if (found.length !== ids.length) {
          const known = new Set(found.map((f) => f.id));
          throw runNotFound(ids.find((id) => !known.has(id))!);
        }
      }
      for (const part of chunks(rows, Math.floor(maxParameters / 7))) {
        if (!wanted) await trx.insertInto("logs").values(part).execute();
        else {
          const ids = await trx.insertInto("logs").values(part).returning("id").execute();
          for (let i = 0; i < part.length; i++)
            stored.push({ ...part[i]!, id: Number(ids[i]!.id) });
        }
      }
    });
    if (stored.length === 0) return;
    const byRun = new Map<string, LogEntry[]>();
    for (const row of stored) {
      if (!this.feed.wantsTasks(row.flow_run_id)) continue;
      const list = byRun.get(row.flow_run_id);
      if (list === undefined) byRun.set(row.flow_run_id, [toLogEntry(row)]);
      else list.push(toLogEntry(row));
    }
    for (const [flowRunId, logs] of byRun) this.feed.publish({ kind: "logs", flowRunId, logs });
  }

  /** A page of a run's log records, oldest first. */
  async list(
    flowRunId: string,
    query: { limit: number; cursor?: string | undefined },
  ): Promise<Page<LogEntry>> {
    let q = this.ctx.db.selectFrom("logs").selectAll().where("flow_run_id", "=", flowRunId);
    if (query.cursor !== undefined) {
      const [after] = decodeCursor<[number]>(query.cursor, ["serial"]);
      q = q.where("id", ">", after);
    }
    const rows = await q
      .orderBy("id")
      .limit(query.limit + 1)
      .execute();
    if (rows.length === 0 && query.cursor === undefined) await this.ctx.runRow(flowRunId);
    const items = rows.slice(0, query.limit);
    const last = items.at(-1);
    return {
      items: items.map(toLogEntry),
      ...(rows.length > query.limit && last ? { nextCursor: encodeCursor([last.id]) } : {}),
    };
  }
}
