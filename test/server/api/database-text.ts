// Whether a secret reached the database at all: the SQLite file's bytes (with
// its write-ahead log), or PostgreSQL's rows as text. For tests that a refused
// registration stored nothing.
import { existsSync, readFileSync } from "node:fs";
import pg from "pg";
import type { DialectContext } from "../dialects.ts";

/** True when `needle` appears anywhere in the suite's database (every table listed). */
export async function databaseHolds(
  ctx: DialectContext,
  needle: string,
  tables: readonly string[] = ["flows", "flow_runs", "task_runs", "agents"],
): Promise<boolean> {
  if (ctx.dialect === "sqlite") {
    const files = [ctx.db, `${ctx.db}-wal`].filter((f) => existsSync(f));
    return files.some((f) => readFileSync(f).includes(Buffer.from(needle)));
  }
  const client = new pg.Client({ connectionString: ctx.db });
  await client.connect();
  try {
    for (const table of tables) {
      const { rows } = await client.query<{ text: string | null }>(
        `select string_agg(t::text, ' ') as text from ${table} t`,
      );
      if ((rows[0]?.text ?? "").includes(needle)) return true;
    }
    return false;
  } finally {
    await client.end();
  }
}
