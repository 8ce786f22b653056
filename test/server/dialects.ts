// Runs a data suite on every available dialect: SQLite always (a temp file under
// os.tmpdir, removed after), PostgreSQL when WEFT_TEST_POSTGRES_URL is set (each
// suite in a fresh schema, dropped after). A suite gets a context whose `open()`
// opens another server database object (ServerDb) on the same database, so tests
// can run several (replicas, agents) against one database. Every one opened is closed after.
//
//   forEachDialect("flows", (ctx) => {
//     test("…", async () => { const db = await ctx.open(); await db.flows.register(…); … });
//   });
//
// PostgreSQL isolation uses the connection's search_path, given in the URL:
// `postgres://…/db?options=-c%20search_path%3Dweft_xxx` (see `ctx.db`), which the
// server database (and anything else using `pg`) honours.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe } from "node:test";
import pg from "pg";
import { openServerDb } from "../../src/server/db/open-server-db.ts";
import type { Dialect, ServerDb, ServerDbOptions } from "../../src/server/db/server-db.ts";

/** The PostgreSQL URL for tests, when set. */
export const POSTGRES_URL = process.env.WEFT_TEST_POSTGRES_URL;

/** What a suite gets for one dialect. */
export interface DialectContext {
  readonly dialect: Dialect;
  /** The database this suite uses: a SQLite path, or a PostgreSQL URL selecting the suite's schema. */
  readonly db: string;
  /** Opens a ServerDb on the suite's database (closed after the suite). */
  open(options?: Omit<ServerDbOptions, "db">): Promise<ServerDb>;
}

/** `url` with `search_path` set to `schema` through the libpq `options` parameter. */
export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set("options", `-c search_path=${schema}`);
  return u.toString();
}

/**
 * Schemas of one `npm test` run share this prefix (set by scripts/test.js), and
 * are dropped by it once every test file has ended. A schema dropped while
 * another file migrates breaks that migration: Kysely's migrator reads the
 * catalogue of every schema, and one vanishing under it is an error.
 */
const DEFERRED_PREFIX = process.env.WEFT_TEST_SCHEMA_PREFIX;

/** Creates a fresh schema and returns its name (drop it with {@link dropSchema}). */
export async function createSchema(url: string): Promise<string> {
  const schema = `${DEFERRED_PREFIX ?? "weft_"}${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`create schema ${schema}`);
  } finally {
    await client.end();
  }
  return schema;
}

/** Drops a schema made by {@link createSchema}, with everything in it. */
export async function dropSchema(url: string, schema: string): Promise<void> {
  if (DEFERRED_PREFIX !== undefined && schema.startsWith(DEFERRED_PREFIX)) return;
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
}

/** Runs `suite` once per dialect, each inside `describe("<name> (<dialect>)")`. */
export function forEachDialect(name: string, suite: (ctx: DialectContext) => void): void {
  for (const dialect of ["sqlite", "postgres"] as const) {
    const skip =
      dialect === "postgres" && POSTGRES_URL === undefined
        ? "WEFT_TEST_POSTGRES_URL not set"
        : false;
    describe(`${name} (${dialect})`, { skip }, () => {
      const stores: ServerDb[] = [];
      let db = "";
      let dir: string | undefined;
      let schema: string | undefined;
      before(async () => {
        if (dialect === "sqlite") {
          dir = mkdtempSync(join(tmpdir(), "weft-store-"));
          db = join(dir, "weft.db");
        } else {
          schema = await createSchema(POSTGRES_URL!);
          db = withSearchPath(POSTGRES_URL!, schema);
        }
      });
      after(async () => {
        await Promise.all(stores.map((s) => s.close()));
        if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
        if (schema !== undefined) await dropSchema(POSTGRES_URL!, schema);
      });
      suite({
        dialect,
        get db() {
          return db;
        },
        async open(options = {}) {
          const store = await openServerDb({ ...options, db });
          stores.push(store);
          return store;
        },
      });
    });
  }
}
