// A run copied under another id, straight in the database: random ids share a
// 4-digit prefix too rarely for a test to wait for it (run-id-prefix tests).
import SqliteDatabase from "better-sqlite3";
import pg from "pg";

/**
 * Copies run `id` as a new run `newId` (no history), in the suite's database:
 * random ids share a 4-digit prefix too rarely for a test to wait for it.
 */
export async function cloneRun(db: string, sqlite: boolean, id: string, newId: string) {
  const p = (n: number) => (sqlite ? "?" : `$${n}`);
  const statements: [string, string[]][] = [
    [`create temporary table run_copy as select * from flow_runs where id = ${p(1)}`, [id]],
    [`update run_copy set id = ${p(1)}`, [newId]],
    ["insert into flow_runs select * from run_copy", []],
    ["drop table run_copy", []],
  ];
  if (sqlite) {
    const database = new SqliteDatabase(db);
    try {
      for (const [sql, values] of statements) database.prepare(sql).run(...values);
    } finally {
      database.close();
    }
    return;
  }
  const client = new pg.Client({ connectionString: db });
  await client.connect();
  try {
    for (const [sql, values] of statements) await client.query(sql, values);
  } finally {
    await client.end();
  }
}
