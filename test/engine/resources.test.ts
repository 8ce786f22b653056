// Resource managers: setup first, cleanup after every task of the block
// (whatever their states), cleanup Skipped when setup failed, cleanup never a
// reference task; a resource shared by a mapped task. The resource is a real
// SQLite database (better-sqlite3) in a temporary directory.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import Database from "better-sqlite3";
import { flow, isWeftError, parameter, resource, task, unmapped, when } from "../../src/index.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;
const dir = mkdtempSync(join(tmpdir(), "weft-resource-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const events: string[] = [];
const opened: Database.Database[] = [];

const db = resource("db", {
  setup: (file: string) => {
    events.push("setup");
    const client = new Database(join(dir, file));
    client.exec("create table if not exists rows (n integer)");
    opened.push(client);
    return client;
  },
  cleanup: (client) => {
    events.push("cleanup");
    client.close();
  },
});

const insert = task("insert", (n: number, client: Database.Database) => {
  if (n < 0) throw new Error(`negative row ${n}`);
  client.prepare("insert into rows (n) values (?)").run(n);
  events.push(`insert ${n}`);
  return n;
});
const count = task("count", (client: Database.Database, _after: number[]) => {
  events.push("count");
  return (client.prepare("select count(*) as c from rows").get() as { c: number }).c;
});

describe("resource managers", () => {
  test("setup runs first, cleanup last; a mapped task shares the resource", async () => {
    events.length = 0;
    const f = flow(unique("resource-mapped"), () =>
      db.use(parameter("file", `${randomUUID()}.db`), (client) => {
        const rows = insert.map(parameter("rows", [1, 2, 3]), unmapped(client));
        return count(client, rows);
      }),
    );
    const run = await f.run();
    assert.equal(run.state.type, "Success");
    assert.equal(run.result(f.outputs), 3);
    assert.equal(events[0], "setup");
    assert.equal(events.at(-1), "cleanup");
    assert.deepEqual(events.slice(1, 4).sort(), ["insert 1", "insert 2", "insert 3"]);
    assert.equal(run.stateOf("db-cleanup-1").type, "Success");
    assert.equal(opened.at(-1)!.open, false);
  });

  test("slugs are deterministic and the cleanup waits for the block's exit tasks", () => {
    const f = flow(unique("resource-graph"), () =>
      db.use("x.db", (client) => count(client, insert.map([1], unmapped(client)))),
    );
    const g = f.build();
    assert.deepEqual(
      g.nodes.map((n) => n.slug),
      ["db-setup-1", "insert-1", "count-1", "db-cleanup-1"],
    );
    assert.deepEqual(
      [...g.edges()].map((e) => `${e.upstream}>${e.downstream}:${e.key}`),
      [
        "db-setup-1>insert-1:1",
        "db-setup-1>count-1:0",
        "insert-1>count-1:1",
        "db-setup-1>db-cleanup-1:0",
        "count-1>db-cleanup-1:after",
      ],
    );
    const serialized = f.serialize() as unknown as { tasks: { slug: string; kind: string }[] };
    assert.deepEqual(
      serialized.tasks.map((t) => `${t.slug}:${t.kind}`),
      ["db-setup-1:setup", "insert-1:task", "count-1:task", "db-cleanup-1:cleanup"],
    );
    // The reference task is count-1: a task followed only by a cleanup is terminal.
    assert.deepEqual(
      g.referenceNodes.map((i) => g.nodes[i]!.slug),
      ["count-1"],
    );
  });

  test("cleanup runs when tasks of the block failed, even children of a mapped task", async () => {
    events.length = 0;
    const f = flow(unique("resource-failed-child"), () =>
      db.use(`${randomUUID()}.db`, (client) =>
        insert.map(parameter("rows", [1, -2, 3]), unmapped(client)),
      ),
    );
    const run = await f.run();
    assert.equal(run.state.type, "Failed");
    const children = run.stateOf(f.outputs).children!.map((c) => c.type);
    assert.deepEqual(children, ["Success", "Failed", "Success"]);
    assert.equal(run.stateOf("db-cleanup-1").type, "Success");
    assert.equal(events.at(-1), "cleanup");
    assert.equal(opened.at(-1)!.open, false);
  });

  test("a failed setup: the block fails, cleanup is Skipped and never runs", async () => {
    events.length = 0;
    const f = flow(unique("resource-setup-failed"), () =>
      // A directory that does not exist: SQLite cannot open the file.
      db.use(join(randomUUID(), "missing.db"), (client) => insert(1, client)),
    );
    const run = await f.run();
    assert.equal(run.stateOf("db-setup-1").type, "Failed");
    assert.equal(run.stateOf("insert-1").type, "TriggerFailed");
    const cleanup = run.stateOf("db-cleanup-1");
    assert.equal(cleanup.type, "Skipped");
    assert.match(cleanup.message ?? "", /resource setup db-setup-1 ended Failed/);
    assert.deepEqual(events, ["setup"]);
    assert.equal(run.state.type, "Failed");
  });

  test("a failed cleanup does not fail the flow, unless it is strict", async () => {
    const leaky = resource("leaky", {
      setup: () => ({ handle: 1 }),
      cleanup: () => {
        throw new Error("could not release");
      },
    });
    const use = task("use", (r: { handle: number }) => r.handle + 1);
    const f = flow(unique("resource-cleanup-failed"), () => leaky.use((r) => use(r)));
    const run = await f.run();
    assert.equal(run.stateOf("leaky-cleanup-1").type, "Failed");
    assert.equal(run.result(f.outputs), 2);
    assert.equal(run.state.type, "Success");
    const strict = await f.run({ strict: true });
    assert.equal(strict.state.type, "Failed");
    assert.match(strict.state.message ?? "", /leaky-cleanup-1/);
  });

  test("inside a branch not taken, setup and cleanup are Skipped", async () => {
    events.length = 0;
    const flag = task("flag", (b: boolean) => b);
    const f = flow(unique("resource-when"), () =>
      when(flag(parameter("go", false)), true, () =>
        db.use(`${randomUUID()}.db`, (client) => insert(1, client)),
      ),
    );
    const run = await f.run();
    assert.equal(run.stateOf("db-setup-1").type, "Skipped");
    assert.equal(run.stateOf("insert-1").type, "Skipped");
    assert.equal(run.stateOf("db-cleanup-1").type, "Skipped");
    assert.equal(run.state.type, "Success");
    assert.deepEqual(events, []);
  });

  test("tasks of the block that do not take the resource still wait for setup", async () => {
    const order: string[] = [];
    const r = resource("tmp", {
      setup: () => order.push("setup"),
      cleanup: () => void order.push("cleanup"),
    });
    const step = task("step", (name: string) => void order.push(name));
    const f = flow(unique("resource-entry"), () => r.use(() => step("work")));
    const run = await f.run();
    assert.equal(run.state.type, "Success");
    assert.deepEqual(order, ["setup", "work", "cleanup"]);
  });

  test("use outside a flow builder, or without a builder function, is refused", () => {
    assert.throws(
      () => db.use("x.db", () => undefined),
      (e) => isWeftError(e) && e.code === "TASK_OUTSIDE_FLOW",
    );
    const f = flow(unique("resource-bad-use"), () =>
      (db.use as (a: unknown, b: unknown) => unknown)("x.db", 42),
    );
    assert.throws(
      () => f.build(),
      (e) => isWeftError(e) && e.code === "INVALID_ARGUMENT" && /db\.use\(\)/.test(e.message),
    );
    assert.throws(
      () => resource("bad name", { setup: () => 1 }),
      (e) => isWeftError(e) && e.code === "INVALID_TASK_OPTIONS",
    );
  });
});
