// The API's server-sent event streams (GET /api/events, GET /api/flow-runs/:id/events)
// against a real server on port 0, read with real fetch streams through the typed
// client, on SQLite and PostgreSQL: what arrives where, masking for read tokens, auth,
// the cap, the bounded queue of a reader that does not read, and close().
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { test } from "node:test";
import { type ApiClient, createApiClient } from "../../../src/client/api-client.ts";
import type { LiveEvent } from "../../../src/serialization/api-schemas.ts";
import { type RunningServer, type ServerOptions, startServer } from "../../../src/server/server.ts";
import { expectCode } from "../../support/expect-code.ts";
import { serializedFlow, st } from "../db/store-fixtures.ts";
import { type DialectContext, forEachDialect } from "../dialects.ts";

/** A followed stream: its events in order, waited on one by one. */
class Follower {
  private readonly iterator: AsyncIterator<LiveEvent>;
  readonly stop = new AbortController();
  readonly seen: LiveEvent[] = [];

  constructor(open: (signal: AbortSignal) => AsyncIterable<LiveEvent>) {
    this.iterator = open(this.stop.signal)[Symbol.asyncIterator]();
  }

  /** The next event (undefined when the stream ended). */
  async next(): Promise<LiveEvent | undefined> {
    const { value, done } = await this.iterator.next();
    if (done) return undefined;
    this.seen.push(value);
    return value;
  }

  /** The first coming event that `match` accepts (fails if the stream ends first). */
  async until<T extends LiveEvent>(match: (e: LiveEvent) => e is T): Promise<T>;
  async until(match: (e: LiveEvent) => boolean): Promise<LiveEvent>;
  async until(match: (e: LiveEvent) => boolean): Promise<LiveEvent> {
    for (;;) {
      const event = await this.next();
      assert.ok(event, `the stream ended before the awaited event (seen: ${this.types()})`);
      if (match(event)) return event;
    }
  }

  types(): string {
    return this.seen.map((e) => e.type).join(", ");
  }

  close(): void {
    this.stop.abort();
  }
}

forEachDialect("live events", (ctx) => {
  async function server(options: Partial<ServerOptions> = {}): Promise<RunningServer> {
    return startServer({
      db: ctx.db,
      port: 0,
      scheduler: false,
      runHealth: false,
      ui: false,
      ...options,
    });
  }

  async function flowAndRuns(s: RunningServer, count: number) {
    const flow = serializedFlow({
      parameters: [
        { name: "x", default: 1, required: false, type: "number", validated: false },
        { name: "apiToken", default: "t", required: false, type: "string", validated: false },
      ],
    });
    await s.db.flows.register(flow);
    const runs = [];
    for (let i = 0; i < count; i++)
      runs.push((await s.db.runs.create({ flowName: flow.name, parameters: { x: i } })).run);
    return { flow, runs };
  }

  test("a task-run write through the batch endpoint arrives as task-runs on its run's stream only; logs and run states too", {
    timeout: 60_000,
  }, async () => {
    const s = await server();
    const followers: Follower[] = [];
    try {
      const api = createApiClient({ url: s.url });
      const { runs } = await flowAndRuns(s, 2);
      const [a, b] = runs as [(typeof runs)[0], (typeof runs)[0]];
      const onA = new Follower((signal) => api.followFlowRun(a.id, { signal }));
      const onB = new Follower((signal) => api.followFlowRun(b.id, { signal }));
      followers.push(onA, onB);
      assert.deepEqual(await onA.next(), { type: "ready", data: { reason: "connected" } });
      assert.deepEqual(await onB.next(), { type: "ready", data: { reason: "connected" } });

      await api.setTaskRunStates([
        { flowRunId: a.id, slug: "inc-1", state: st("Running"), version: 0 },
      ]);
      const taskRuns = await onA.next();
      assert.equal(taskRuns?.type, "task-runs", onA.types());
      assert.ok(taskRuns?.type === "task-runs");
      assert.equal(taskRuns.data.length, 1);
      assert.equal(taskRuns.data[0]!.slug, "inc-1");
      assert.equal(taskRuns.data[0]!.state.type, "Running");
      assert.equal(taskRuns.data[0]!.flowRunId, a.id);
      // The record is the one the JSON route answers (same id and version).
      const detail = await api.getFlowRun(a.id);
      assert.deepEqual(taskRuns.data[0], detail.taskRuns[0]);

      // B saw nothing of A's: its first event after ready is its own write.
      await api.setTaskRunStates([
        { flowRunId: b.id, slug: "inc-1", state: st("Running"), version: 0 },
      ]);
      const onlyB = await onB.next();
      assert.ok(onlyB?.type === "task-runs", onB.types());
      assert.deepEqual(
        onlyB.data.map((t) => t.flowRunId),
        [b.id],
      );

      // Logs arrive as the logs route pages them (with their ids).
      await api.ingestLogs([
        { level: "info", message: "hello", time: Date.now(), flowRunId: a.id, taskSlug: "inc-1" },
      ]);
      const logs = await onA.next();
      assert.ok(logs?.type === "logs", onA.types());
      assert.deepEqual(logs.data, (await api.listLogs(a.id)).items);

      // A run state write arrives as the run's record.
      await api.cancelFlowRun(a.id);
      const run = await onA.next();
      assert.ok(run?.type === "run", onA.types());
      assert.equal(run.data.id, a.id);
      assert.equal(run.data.state.type, "Cancelled");
    } finally {
      for (const f of followers) f.close();
      await s.close();
    }
  });

  test("runs created and changed and agents heard from arrive on /api/events", {
    timeout: 60_000,
  }, async () => {
    const s = await server();
    const all = new Follower((signal) => createApiClient({ url: s.url }).followEvents({ signal }));
    try {
      const api = createApiClient({ url: s.url });
      assert.equal((await all.next())?.type, "ready");
      const { flow } = await flowAndRuns(s, 0);
      // Its own label, so that the claim below takes this run and no other test's.
      const label = `live-${randomUUID().slice(0, 8)}`;
      const { run } = await api.createFlowRun({ flowName: flow.name, labels: [label] });
      const created = await all.until((e) => e.type === "run" && e.data.id === run.id);
      assert.ok(created.type === "run");
      assert.equal(created.data.state.type, "Scheduled");

      const agent = await api.registerAgent({ name: `agent-${randomUUID()}`, labels: [label] });
      const registered = await all.until((e) => e.type === "agent");
      assert.ok(registered.type === "agent");
      assert.equal(registered.data.id, agent.id);

      // A claim moves the run to Submitted: the stream says so.
      // (Runs without labels of the suite's other tests are claimable too: take them all.)
      const claimed = (await api.claimFlowRuns(agent.id, { limit: 100 })).find(
        (c) => c.run.id === run.id,
      );
      assert.ok(claimed, "the agent claimed the run");
      const submitted = await all.until((e) => e.type === "run" && e.data.id === run.id);
      assert.ok(submitted.type === "run");
      assert.equal(submitted.data.state.type, "Submitted");
      assert.equal(submitted.data.version, claimed!.run.version);
    } finally {
      all.close();
      await s.close();
    }
  });

  test("close() ends open streams at once (it never waits on them)", {
    timeout: 60_000,
  }, async (t) => {
    // A grace longer than the test: were close() to wait on the streams, the test would time out.
    const s = await server({ closeGraceMs: 600_000 });
    const api = createApiClient({ url: s.url });
    const { runs } = await flowAndRuns(s, 1);
    const all = new Follower((signal) => api.followEvents({ signal }));
    const one = new Follower((signal) => api.followFlowRun(runs[0]!.id, { signal }));
    assert.equal((await all.next())?.type, "ready");
    assert.equal((await one.next())?.type, "ready");
    assert.equal(s.eventStreamStats().open, 2);
    const started = Date.now();
    const [ended] = await Promise.all([Promise.all([all.next(), one.next()]), s.close()]);
    t.diagnostic(`close() took ${Date.now() - started} ms`);
    assert.deepEqual(ended, [undefined, undefined]);
    assert.equal(s.eventStreamStats().open, 0);
  });

  test("a reader that does not read costs a bounded queue: the server drops it and says ready", {
    timeout: 120_000,
  }, async () => {
    const queueLimit = 40;
    const s = await server({ eventStreams: { queueLimit, chunkBytes: 64 * 1024 } });
    const api = createApiClient({ url: s.url });
    const { runs } = await flowAndRuns(s, 1);
    const runId = runs[0]!.id;
    // A raw connection that asks for the stream and then reads nothing.
    const socket = connect({ host: "127.0.0.1", port: s.port });
    socket.pause();
    let received = "";
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("error", reject);
      });
      socket.write(
        `GET /api/flow-runs/${runId}/events HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nAccept: text/event-stream\r\n\r\n`,
      );
      const message = "m".repeat(256 * 1024);
      let batches = 0;
      // Each batch is 4 records of 256 KiB: the socket's buffers fill, then the queue.
      while (s.eventStreamStats().overflows === 0) {
        assert.ok(batches < 400, `no overflow after ${batches} batches of 1 MiB`);
        await api.ingestLogs(
          Array.from({ length: 4 }, () => ({
            level: "info" as const,
            message,
            time: Date.now(),
            flowRunId: runId,
          })),
        );
        batches++;
        assert.ok(
          s.eventStreamStats().queued <= queueLimit,
          `queued ${s.eventStreamStats().queued} > ${queueLimit}`,
        );
      }
      const stats = s.eventStreamStats();
      assert.ok(stats.maxQueued <= queueLimit, `max queued ${stats.maxQueued} > ${queueLimit}`);
      assert.equal(stats.open, 1);
      // Once it reads again, the reader gets what the socket held, then `ready` (overflow).
      const overflow = 'event: ready\ndata: {"reason":"overflow"}\n\n';
      await new Promise<void>((resolve, reject) => {
        socket.on("data", (chunk: Buffer) => {
          // Keep only the tail: the log records are large and of no interest here.
          received = (received + chunk.toString("latin1")).slice(-4096);
          if (received.includes(overflow)) resolve();
        });
        socket.once("error", reject);
        socket.once("end", () => reject(new Error("the stream ended before ready (overflow)")));
        socket.resume();
      });
    } finally {
      socket.destroy();
      await s.close();
    }
  });
  // Tokens made here stay in the suite's database: the tests of an open server come first.
  test("a read token gets masked parameters and results; an admin token the values", {
    timeout: 60_000,
  }, async () => {
    const admin = await tokenIn(ctx, "admin");
    const read = await tokenIn(ctx, "read");
    const s = await server();
    const asRead = createApiClient({ url: s.url, token: read });
    const asAdmin = createApiClient({ url: s.url, token: admin });
    const readAll = new Follower((signal) => asRead.followEvents({ signal }));
    const adminAll = new Follower((signal) => asAdmin.followEvents({ signal }));
    try {
      assert.equal(s.open, false);
      assert.equal((await readAll.next())?.type, "ready");
      assert.equal((await adminAll.next())?.type, "ready");
      const { flow } = await flowAndRuns(s, 0);
      const secret = "hunter2-not-a-shape";
      const { run } = await asAdmin.createFlowRun({
        flowName: flow.name,
        parameters: { apiToken: secret },
      });
      const isRun = (e: LiveEvent) => e.type === "run" && e.data.id === run.id;
      const masked = await readAll.until(isRun);
      const plain = await adminAll.until(isRun);
      assert.ok(masked.type === "run" && plain.type === "run");
      assert.equal(masked.data.parameters.apiToken, "***");
      assert.equal(plain.data.parameters.apiToken, secret);
      // The same masking as the JSON route.
      assert.deepEqual(masked.data, await asRead.getFlowRun(run.id).then(recordOf));

      // A parameter task's result is the parameter's value: masked on the run's stream too.
      const readRun = new Follower((signal) => asRead.followFlowRun(run.id, { signal }));
      try {
        assert.equal((await readRun.next())?.type, "ready");
        await asAdmin.setTaskRunStates([
          {
            flowRunId: run.id,
            slug: "apiToken",
            state: st("Success", new Date(), { result: secret }),
            version: 0,
          },
        ]);
        const taskRuns = await readRun.until((e) => e.type === "task-runs");
        assert.ok(taskRuns.type === "task-runs");
        assert.equal(taskRuns.data[0]!.state.result, "***");
      } finally {
        readRun.close();
      }
    } finally {
      readAll.close();
      adminAll.close();
      await s.close();
    }
  });

  test("without a token a closed server answers 401; an unknown run 404; above the cap 503", {
    timeout: 60_000,
  }, async () => {
    const admin = await tokenIn(ctx, "admin");
    const s = await server({ eventStreams: { maxStreams: 1 } });
    const api = createApiClient({ url: s.url, token: admin });
    const first = new Follower((signal) => api.followEvents({ signal }));
    try {
      const bare = await fetch(`${s.url}/api/events`, {
        headers: { accept: "text/event-stream" },
      });
      assert.equal(bare.status, 401);
      assert.equal(
        ((await bare.json()) as { error: { code: string } }).error.code,
        "UNAUTHENTICATED",
      );
      await expectCode(
        () => createApiClient({ url: s.url }).followEvents()[Symbol.asyncIterator]().next(),
        "UNAUTHENTICATED",
        "no token",
      );
      await expectCode(
        () => api.followFlowRun(randomUUID())[Symbol.asyncIterator]().next(),
        "FLOW_RUN_NOT_FOUND",
        "unknown run",
      );
      // A foreign Origin is refused by the request guard, as on every route.
      const foreign = await fetch(`${s.url}/api/events`, {
        headers: { authorization: `Bearer ${admin}`, origin: "https://evil.example" },
      });
      assert.equal(foreign.status, 403);
      await foreign.body?.cancel();

      assert.equal((await first.next())?.type, "ready");
      const error = await expectCode(
        () => api.followEvents()[Symbol.asyncIterator]().next(),
        "TOO_MANY_STREAMS",
        "a second stream above maxStreams 1",
      );
      assert.equal((error as { status?: number }).status, 503);
      assert.equal(s.eventStreamStats().open, 1);
    } finally {
      first.close();
      await s.close();
    }
  });
});

/** A token of `scope` made in the suite's database (the server then needs tokens). */
async function tokenIn(ctx: DialectContext, scope: "read" | "agent" | "admin"): Promise<string> {
  const db = await ctx.open();
  return (await db.tokens.create({ name: `${scope}-${randomUUID()}`, scopes: [scope] })).secret;
}

/** A run's record from its detail (what a `run` event carries). */
function recordOf(detail: Awaited<ReturnType<ApiClient["getFlowRun"]>>) {
  const { taskRuns: _t, history: _h, childRuns: _c, ...record } = detail;
  return record;
}
