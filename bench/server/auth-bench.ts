// What verifying an API token costs per request, with the server's 2 s cache and
// without it: in process (app.request), an authenticated GET that reads one row,
// on SQLite in a temp dir and on PostgreSQL when WEFT_TEST_POSTGRES_URL is set.
// Rounds alternate between the two settings so that machine noise hits both.
// (Claim latency and batch writes through the API are in server-bench.ts.)
//
//   node --import tsx bench/server/auth-bench.ts [--requests 2000] [--rounds 3]
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createApp } from "../../src/server/api/app.ts";
import { openServerDb } from "../../src/server/db/open-server-db.ts";
import { createSchema, dropSchema, withSearchPath } from "../../test/server/dialects.ts";

const { values } = parseArgs({
  options: {
    requests: { type: "string", default: "2000" },
    rounds: { type: "string", default: "3" },
  },
});
const REQUESTS = Number(values.requests);
const ROUNDS = Number(values.rounds);

async function tokenCost(db: string, dialect: string): Promise<void> {
  const store = await openServerDb({ db });
  try {
    const { secret } = await store.tokens.create({
      name: `bench-${randomUUID()}`,
      scopes: ["read"],
    });
    const headers = { authorization: `Bearer ${secret}` };
    const apps = new Map(
      [2000, 0].map((cacheMs) => [
        cacheMs,
        createApp({ db: store, auth: { allowOpen: false, cacheMs } }),
      ]),
    );
    const times = new Map<number, number[]>([...apps.keys()].map((k) => [k, []]));
    for (let round = 0; round <= ROUNDS; round++) {
      for (const [cacheMs, app] of apps) {
        const started = performance.now();
        for (let i = 0; i < REQUESTS; i++) {
          const res = await app.request("/api/agents/none", { headers });
          if (res.status !== 404) throw new Error(`unexpected ${res.status}`);
          await res.arrayBuffer();
        }
        // Round 0 warms up.
        if (round > 0) times.get(cacheMs)!.push(((performance.now() - started) * 1000) / REQUESTS);
      }
    }
    for (const [cacheMs, each] of times) {
      each.sort((a, b) => a - b);
      console.log(
        `${dialect}: authenticated GET /api/agents/:id in process, token cache ${cacheMs ? `${cacheMs} ms` : "off"}: median of ${ROUNDS} rounds ${each[Math.floor(each.length / 2)]!.toFixed(0)} µs a request (${REQUESTS} requests a round)`,
      );
    }
  } finally {
    await store.close();
  }
}

async function onDialect(dialect: "sqlite" | "postgres"): Promise<void> {
  let dir: string | undefined;
  let schema: string | undefined;
  let db: string;
  if (dialect === "sqlite") {
    dir = mkdtempSync(join(tmpdir(), "weft-auth-bench-"));
    db = join(dir, "weft.db");
  } else {
    schema = await createSchema(process.env.WEFT_TEST_POSTGRES_URL!);
    db = withSearchPath(process.env.WEFT_TEST_POSTGRES_URL!, schema);
  }
  try {
    await tokenCost(db, dialect);
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    if (schema !== undefined) await dropSchema(process.env.WEFT_TEST_POSTGRES_URL!, schema);
  }
}

await onDialect("sqlite");
if (process.env.WEFT_TEST_POSTGRES_URL) await onDialect("postgres");
else console.log("postgres: skipped (WEFT_TEST_POSTGRES_URL not set)");
