import type { Kysely, RawBuilder } from "kysely";
import type { Tables } from "./tables.ts";

/** The SQL dialects the database speaks. */
export const DIALECTS = ["sqlite", "postgres"] as const;
/** One of {@link DIALECTS}. */
export type Dialect = (typeof DIALECTS)[number];

/** The SQL types of bulk-bound values. */
export type BulkType = "text" | "integer";

/** An INSERT of many rows (see {@link DbConnection.insertRows}). */
export interface RowsInsert {
  /** The table and its columns: `task_runs (flow_run_id, slug, …)`. */
  readonly into: string;
  /** The SQL type of each column, in order. */
  readonly types: readonly BulkType[];
  /** What follows the rows: `on conflict … do update set …`, then `returning …` when rows are wanted back. */
  readonly rest: string;
}

/**
 * What differs between SQLite and PostgreSQL, kept in one narrow interface so
 * that every repository is one implementation: opening, the few SQL fragments
 * that have no common spelling, the leader lock and error classification.
 */
export interface DbConnection {
  readonly dialect: Dialect;
  readonly db: Kysely<Tables>;
  /** How a write transaction begins (SQLite takes the write lock at once, so no deadlock on upgrade). */
  readonly beginWrite: string;
  /** Bound parameters one statement may carry (SQLite 32,766; PostgreSQL 65,535), with a margin. */
  readonly maxParameters: number;
  /** The schema the migrations table lives in (PostgreSQL's current schema). */
  readonly migrationSchema: string | undefined;
  /** SQL: the JSON array in text column `column` is a subset of the JSON array `labels`. */
  labelsWithin(column: RawBuilder<unknown>, labels: string): RawBuilder<boolean>;
  /**
   * Runs `insert into <into> <rows> <rest>` for `rows` (one array per row, `types`
   * per column) inside the open transaction `trx`, and answers what `rest`'s
   * `returning` names, one object per row (none without it). SQLite runs one
   * cached prepared statement per row (a few µs each, no text to build or parse);
   * PostgreSQL one statement whose rows are one JSON parameter, so a batch is
   * one round trip with a constant statement text whatever its size.
   */
  insertRows(
    trx: Kysely<Tables>,
    insert: RowsInsert,
    rows: readonly (readonly unknown[])[],
  ): Promise<readonly Record<string, unknown>[]>;
  /** SQL: `<column> in <values>`, the list bound as one parameter. */
  inList(
    column: RawBuilder<unknown>,
    values: readonly unknown[],
    type: BulkType,
  ): RawBuilder<boolean>;
  /** Runs `body` while holding the named leader lock; false when another process holds it. */
  asLeader(name: string, body: () => Promise<void>): Promise<boolean>;
  /** True when another connection holds the write lock (SQLite): wait and try again. */
  isBusy(error: unknown): boolean;
  /** True for a unique-constraint violation. */
  isUniqueViolation(error: unknown): boolean;
  /** A sentence when `error` says the database cannot be used (gone, locked, read-only, full). */
  unavailable(error: unknown): string | undefined;
  close(): Promise<void>;
}
