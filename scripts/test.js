#!/usr/bin/env node
// Runs the test suite with node's test runner. Node 20 expands no globs, so the
// files are found here: every test/**/*.test.ts, or those whose path contains
// one of the arguments (`npm test -- engine/flow-runner`).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, sep } from "node:path";

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return find(path);
    return entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

const filters = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const flags = process.argv.slice(2).filter((a) => a.startsWith("--"));
const files = find("test")
  .sort()
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(" ") || "test/**/*.test.ts"}`);
  process.exit(1);
}
const reporter = process.stdout.isTTY ? [] : ["--test-reporter=spec"];
// Most test files wait on child processes, servers and timers more than they compute, so more
// files run at once than there are cores (node's default is cores - 1: one file at a time on 2).
const concurrency = flags.some((f) => f.startsWith("--test-concurrency"))
  ? []
  : [`--test-concurrency=${process.env.WEFT_TEST_CONCURRENCY ?? 2}`];
// A file whose process does not end (a connection or timer left open after its last test)
// fails after this long, naming itself, instead of holding the whole run for ever.
const fileTimeout = flags.some((f) => f.startsWith("--test-timeout"))
  ? []
  : [`--test-timeout=${process.env.WEFT_TEST_FILE_TIMEOUT_MS ?? 15 * 60_000}`];
// PostgreSQL tests each get a schema; they are dropped here, after every file ended (see
// test/server/dialects.ts for why not during the run).
const schemaPrefix = `weft_t${process.pid}_`;
async function dropTestSchemas() {
  const url = process.env.WEFT_TEST_POSTGRES_URL;
  if (!url) return;
  const { default: pg } = await import("pg");
  const client = new pg.Client({ connectionString: url });
  try {
    await client.connect();
    const { rows } = await client.query(
      "select nspname from pg_namespace where starts_with(nspname, $1)",
      [schemaPrefix],
    );
    for (const { nspname } of rows)
      await client.query(`drop schema if exists "${nspname}" cascade`);
  } catch (error) {
    console.error(`could not drop the test schemas ${schemaPrefix}*: ${error.message}`);
  } finally {
    await client.end().catch(() => {});
  }
}

// Tests import weft from src/ (with the weftflow-source condition, so that "weftflow" is
// the source too); the weft processes they start run dist/, as users do: build it first.
// The package tests (test/package/) pack dist/ into a tarball, declarations included: then
// the whole build runs here, before any file starts, so that nothing rebuilds dist/ while
// other files run weft from it.
const packs = files.some((f) => f.startsWith(join("test", "package") + sep));
const build = spawnSync(
  process.execPath,
  ["scripts/build.js", "--if-stale", ...(packs ? [] : ["--js", "--ui"])],
  { stdio: "inherit" },
);
if (build.status !== 0) process.exit(build.status ?? 1);

// Tests never touch the user's ~/.weft: caches and default storages live in a fresh home.
const home = process.env.WEFT_HOME ?? mkdtempSync(join(tmpdir(), "weft-test-home-"));
const result = spawnSync(
  process.execPath,
  [
    "--import",
    "tsx",
    "--conditions=weftflow-source",
    "--test",
    ...reporter,
    ...concurrency,
    ...fileTimeout,
    ...flags,
    ...files,
  ],
  {
    stdio: "inherit",
    env: { ...process.env, WEFT_HOME: home, WEFT_TEST_SCHEMA_PREFIX: schemaPrefix },
  },
);
if (process.env.WEFT_HOME === undefined) rmSync(home, { recursive: true, force: true });
await dropTestSchemas();
process.exit(result.status ?? 1);
