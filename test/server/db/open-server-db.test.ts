// Opening the store: migrations once (also when started concurrently), one clear
// error for an unusable database, the leader lock, and a closed store.
import assert from "node:assert/strict";
import { createHash, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { openServerDb } from "../../../src/server/db/open-server-db.ts";
import { expectCode } from "../../support/expect-code.ts";
import {
  createSchema,
  dropSchema,
  forEachDialect,
  POSTGRES_URL,
  withSearchPath,
} from "../dialects.ts";
import { serializedFlow } from "./store-fixtures.ts";

forEachDialect("open store", (ctx) => {
  test("migrations run once: opening again finds nothing to do and keeps the data", async () => {
    const first = await ctx.open();
    assert.equal(await first.ready(), true);
    const { flow } = await first.flows.register(serializedFlow());
    const second = await ctx.open();
    assert.equal(await second.ready(), true);
    assert.equal((await second.flows.get(flow.id)).id, flow.id);
  });

  test("a closed store answers DATABASE_UNAVAILABLE, and closing twice is fine", async () => {
    const store = await ctx.open();
    await store.close();
    await store.close();
    await expectCode(() => store.agents.list(), "DATABASE_UNAVAILABLE", "after close");
  });

  test("the leader lock: one store leads at a time (SQLite: always leads)", async () => {
    const a = await ctx.open();
    const b = await ctx.open();
    const name = `loop-${randomUUID()}`;
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    let entered!: () => void;
    const inside = new Promise<void>((r) => {
      entered = r;
    });
    const leading = a.asLeader(name, async () => {
      entered();
      await held;
    });
    await inside;
    const other = await b.asLeader(name, async () => {});
    assert.equal(other, ctx.dialect === "sqlite", "the second store leads only on SQLite");
    // Another name is another lock.
    assert.equal(await b.asLeader(`${name}-other`, async () => {}), true);
    release();
    assert.equal(await leading, true);
    // Released after the body: the other store leads now.
    assert.equal(await b.asLeader(name, async () => {}), true);
    // A body that throws releases the lock too.
    await assert.rejects(
      a.asLeader(name, async () => Promise.reject(new Error("boom"))),
      /boom/,
    );
    assert.equal(await b.asLeader(name, async () => {}), true);
  });
});

describe("start-up failures", () => {
  const dir = mkdtempSync(join(tmpdir(), "weft-open-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test("an unwritable SQLite path is DATABASE_UNAVAILABLE naming the path, with a hint", async () => {
    const file = join(dir, "a-file");
    writeFileSync(file, "not a directory");
    const path = join(file, "weft.db");
    const error = await expectCode(
      () => openServerDb({ db: path }),
      "DATABASE_UNAVAILABLE",
      "parent is a file",
    );
    assert.ok(error.message.includes(path), error.message);
    assert.match(error.hint ?? "", /--db|WEFT_DB/);
  });

  test("a file that is not a database is refused with one clear error", async () => {
    const path = join(dir, "garbage.db");
    writeFileSync(path, "x".repeat(4096));
    const error = await expectCode(
      () => openServerDb({ db: path }),
      "DATABASE_UNAVAILABLE",
      "not a database",
    );
    assert.ok(error.message.includes(path), error.message);
  });

  test("a missing directory is created", async () => {
    const store = await openServerDb({ db: join(dir, "deep", "er", "weft.db") });
    assert.equal(await store.ready(), true);
    await store.close();
  });

  test("unreachable PostgreSQL is DATABASE_UNAVAILABLE naming host:port, never the password", async () => {
    const error = await expectCode(
      () => openServerDb({ db: "postgres://weft:s3cret-pw@127.0.0.1:1/weft" }),
      "DATABASE_UNAVAILABLE",
      "port 1",
    );
    assert.match(error.message, /127\.0\.0\.1:1\b/);
    assert.ok(!error.message.includes("s3cret-pw"), error.message);
    assert.ok(!(error.hint ?? "").includes("s3cret-pw"));
    assert.match(error.hint ?? "", /--db|WEFT_DB/);
  });

  test("SQLite: stores opened at once on a new file migrate once", async () => {
    const path = join(dir, `race-${randomUUID()}.db`);
    const stores = await Promise.all(Array.from({ length: 4 }, () => openServerDb({ db: path })));
    for (const s of stores) assert.equal(await s.ready(), true);
    await Promise.all(stores.map((s) => s.close()));
  });

  test("PostgreSQL: stores opened at once on a new schema migrate once", {
    skip: POSTGRES_URL === undefined ? "WEFT_TEST_POSTGRES_URL not set" : false,
  }, async () => {
    const schema = await createSchema(POSTGRES_URL!);
    try {
      const db = withSearchPath(POSTGRES_URL!, schema);
      const stores = await Promise.all(Array.from({ length: 4 }, () => openServerDb({ db })));
      for (const s of stores) assert.equal(await s.ready(), true);
      const { flow } = await stores[0]!.flows.register(serializedFlow());
      assert.equal((await stores[3]!.flows.get(flow.id)).id, flow.id);
      await Promise.all(stores.map((s) => s.close()));
    } finally {
      await dropSchema(POSTGRES_URL!, schema);
    }
  });

  test("PostgreSQL: a leader whose connection dies loses the lock to another store", {
    skip: POSTGRES_URL === undefined ? "WEFT_TEST_POSTGRES_URL not set" : false,
  }, async () => {
    const schema = await createSchema(POSTGRES_URL!);
    const db = withSearchPath(POSTGRES_URL!, schema);
    const [a, b] = await Promise.all([openServerDb({ db }), openServerDb({ db })]);
    try {
      const name = `loop-${randomUUID()}`;
      const leading = a.asLeader(name, async () => {
        // Kill this leader's lock connection from outside, as a network cut would: only the
        // backend holding this lock (other test files hold advisory locks of their own).
        const pg = (await import("pg")).default;
        const admin = new pg.Client({ connectionString: POSTGRES_URL! });
        await admin.connect();
        const { rows } = await admin.query<{ db: string }>("select current_database() as db");
        const key = createHash("sha256")
          .update(`weft-leader\0${rows[0]!.db}\0${schema}\0${name}`)
          .digest()
          .readBigUInt64BE(0);
        const killed = await admin.query(
          "select pg_terminate_backend(pid) from pg_locks where locktype = 'advisory' and granted and classid = $1::oid and objid = $2::oid and objsubid = 1",
          [String(key >> 32n), String(key & 0xffffffffn)],
        );
        await admin.end();
        assert.equal(killed.rowCount, 1, "the leader's lock connection was found and cut");
        for (let i = 0; i < 50 && !(await b.asLeader(name, async () => {})); i++) await sleep(20);
        assert.equal(await b.asLeader(name, async () => {}), true, "b leads once a's lock is gone");
      });
      assert.equal(await leading, true);
    } finally {
      await Promise.all([a.close(), b.close()]);
      await dropSchema(POSTGRES_URL!, schema);
    }
  });
});
