// A client that goes away mid-request leaves all or nothing of its write, on a
// real server and a real socket.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type RunningServer, startServer } from "../../../src/server/server.ts";
import { serializedFlow, st } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { keepingLogger } from "./api-fixtures.ts";

/** Opens a socket, sends the head and `part` of `body`, then destroys the socket. */
async function sendAndVanish(
  server: RunningServer,
  path: string,
  body: string,
  part: number,
  chunked: boolean,
): Promise<void> {
  const socket = connect(server.port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const head = [
    `POST ${path} HTTP/1.1`,
    "Host: 127.0.0.1",
    "Content-Type: application/json",
    chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${Buffer.byteLength(body)}`,
    "",
    "",
  ].join("\r\n");
  const sent = body.slice(0, part);
  socket.write(
    chunked ? `${head}${Buffer.byteLength(sent).toString(16)}\r\n${sent}\r\n` : `${head}${sent}`,
  );
  await sleep(150); // the server has the head and part of the body, and is reading the rest
  socket.destroy();
  await sleep(300); // and now it has seen the client go
}

forEachDialect("api client disconnects", (ctx) => {
  let server: RunningServer;
  const logger = keepingLogger();
  before(async () => {
    server = await startServer({ db: ctx.db, port: 0, logger });
  });
  after(async () => {
    await server?.close();
  });

  async function runWithWrites(count: number) {
    const { flow } = await server.db.flows.register(serializedFlow());
    const { run } = await server.db.runs.create({ flowId: flow.id });
    const states = Array.from({ length: count }, (_, i) => ({
      flowRunId: run.id,
      slug: `task-${i}`,
      state: st("Running", new Date(), { message: "x".repeat(200) }),
      version: 0,
    }));
    return { run, body: JSON.stringify({ states }) };
  }

  for (const chunked of [false, true]) {
    test(`half a body (${chunked ? "chunked" : "Content-Length"}), then gone: nothing is written`, async () => {
      const { run, body } = await runWithWrites(500);
      await sendAndVanish(
        server,
        "/api/task-run-states",
        body,
        Math.floor(body.length / 2),
        chunked,
      );
      assert.deepEqual(await server.db.taskRuns.list(run.id), [], "no task run was written");
      assert.deepEqual(
        logger.lines.filter((l) => l.level === "error"),
        [],
        "nothing unexpected was logged",
      );
      // The server goes on serving.
      const res = await fetch(`${server.url}/api/flow-runs/${run.id}`);
      assert.equal(res.status, 200);
    });
  }

  test("the whole body, then gone before the answer: everything is written", async () => {
    const { run, body } = await runWithWrites(500);
    await sendAndVanish(server, "/api/task-run-states", body, body.length, false);
    // The write may still be in flight: wait until any of it shows, then all of it must be there.
    let tasks = await server.db.taskRuns.list(run.id);
    for (let waited = 0; tasks.length === 0 && waited < 10_000; waited += 50) {
      await sleep(50);
      tasks = await server.db.taskRuns.list(run.id);
    }
    assert.equal(tasks.length, 500, "all of the batch, not part of it");
  });

  test("a registration cut short leaves no flow behind", async () => {
    const flow = serializedFlow({ name: `flow-${randomUUID()}` });
    const body = JSON.stringify({ flow });
    await sendAndVanish(server, "/api/flows", body, body.length - 5, false);
    const page = await server.db.flows.list({ name: flow.name, archived: "all", limit: 10 });
    assert.deepEqual(page.items, []);
  });
});
