// Run health: "submitted but never started" and "heartbeats stopped" are told
// apart, rescheduled up to the limit, then failed; a run that moved on is left
// alone, and a superseded flow-run process can no longer write.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import { crashLogMessage } from "../../../src/serialization/crash-report.ts";
import type { ServerDb } from "../../../src/server/db/server-db.ts";
import { createRunHealth } from "../../../src/server/loops/run-health.ts";
import { expectCode } from "../../support/expect-code.ts";
import { serializedFlow, st } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { manualClock, recordingLogger } from "./loop-fixtures.ts";

const SUBMITTED_MS = 60_000;
const HEARTBEAT_MS = 30_000;
const AGENT_MS = 20_000;
/** An agent timeout longer than any test's clock moves: the other timeouts alone act. */
const AGENT_IGNORED_MS = 3_600_000;

forEachDialect("run health", (ctx) => {
  /** A store on a hand-moved clock, run health on it, and a claimed run. */
  async function setup(maxReschedules = 2, agentTimeoutMs = AGENT_IGNORED_MS) {
    const clock = manualClock("2030-01-01T00:00:00.000Z");
    const store = await ctx.open({ now: clock.now });
    const logger = recordingLogger();
    const health = createRunHealth({
      db: store,
      logger,
      now: clock.now,
      submittedTimeoutMs: SUBMITTED_MS,
      heartbeatTimeoutMs: HEARTBEAT_MS,
      agentTimeoutMs,
      maxReschedules,
    });
    // Run health counts silence from its first tick (it starts with the server).
    await health.tick();
    const label = `h-${randomUUID()}`;
    const flow = serializedFlow({ labels: [label] });
    await store.flows.register(flow);
    const { run } = await store.runs.create({
      flowName: flow.name,
      scheduledStart: "2000-01-01T00:00:00.000Z",
    });
    const agent = await store.agents.register({
      name: `a-${randomUUID()}`,
      labels: [label],
      concurrency: 1,
    });
    const claim = async (s: ServerDb = store) => {
      const [c] = await s.runs.claim(agent.id, 1);
      assert.equal(c?.run.id, run.id);
      return c!.run;
    };
    await claim();
    return { clock, store, logger, health, run, claim, agent };
  }

  test("submitted but never started: rescheduled, saying so", async () => {
    const { clock, store, health, run, logger } = await setup();
    clock.advance(SUBMITTED_MS - 1000);
    await health.tick();
    assert.equal((await store.runs.get(run.id)).state.type, "Submitted", "not yet");
    clock.advance(2000);
    await health.tick();
    const after = await store.runs.get(run.id);
    assert.equal(after.state.type, "Scheduled");
    assert.equal(after.rescheduleCount, 1);
    assert.equal(after.agentId, undefined);
    assert.match(after.state.message ?? "", /never started/);
    assert.match(after.state.message ?? "", /1 of 2/);
    assert.ok(logger.lines.some((l) => l.level === "warn" && l.message.includes(run.id)));
    const detail = await store.runs.getDetail(run.id);
    assert.deepEqual(
      detail.history.map((s) => s.type),
      ["Scheduled", "Submitted", "Scheduled"],
    );
  });

  test("heartbeats stopped: rescheduled, saying so; heartbeats keep a run alive", async () => {
    const { clock, store, health, run } = await setup();
    const running = await store.runs.setState(run.id, st("Running", clock.now()), 2);
    for (let i = 0; i < 4; i++) {
      clock.advance(HEARTBEAT_MS - 5000);
      await store.runs.heartbeat(run.id);
      await health.tick();
    }
    assert.equal((await store.runs.get(run.id)).state.type, "Running", "beating, so healthy");
    clock.advance(HEARTBEAT_MS + 1000);
    await health.tick();
    const after = await store.runs.get(run.id);
    assert.equal(after.state.type, "Scheduled");
    assert.match(after.state.message ?? "", /heartbeats stopped/);
    assert.ok(after.version > running.version);
  });

  test("a run whose process died says why: the agent's crash line is in run health's message", async () => {
    const { clock, store, health, run } = await setup(0);
    const started = clock.now();
    await store.runs.setState(run.id, st("Running", started), 2);
    const time = started.getTime() + 10;
    await store.logs.insert([
      // An earlier, unrelated error and a task's error are not the crash.
      { flowRunId: run.id, level: "error", time, message: "something else went wrong" },
      {
        flowRunId: run.id,
        level: "error",
        time: time + 1,
        message: crashLogMessage(
          "the flow-run container ran out of memory (memory limit 96 MiB): exit 137",
        ),
      },
      { flowRunId: run.id, taskSlug: "t-1", level: "error", time: time + 2, message: "task boom" },
    ]);
    clock.advance(HEARTBEAT_MS + 1000);
    await health.tick();
    const failed = await store.runs.get(run.id);
    assert.equal(failed.state.type, "Failed");
    assert.match(
      failed.state.message ?? "",
      /heartbeats stopped .* after the flow-run process died: the flow-run container ran out of memory \(memory limit 96 MiB\): exit 137; rescheduled 0 time/,
    );
  });

  test("after maxReschedules the run fails, naming which staleness it was", async () => {
    const { clock, store, health, run, claim } = await setup(2);
    for (let round = 1; round <= 2; round++) {
      clock.advance(SUBMITTED_MS + 1000);
      await health.tick();
      assert.equal((await store.runs.get(run.id)).rescheduleCount, round);
      await claim();
    }
    const again = await store.runs.get(run.id);
    await store.runs.setState(run.id, st("Running", clock.now()), again.version);
    clock.advance(HEARTBEAT_MS + 1000);
    await health.tick();
    const failed = await store.runs.get(run.id);
    assert.equal(failed.state.type, "Failed");
    assert.match(failed.state.message ?? "", /heartbeats stopped/);
    assert.match(failed.state.message ?? "", /rescheduled 2 time/);
    assert.equal(failed.rescheduleCount, 2);
    assert.ok(failed.endTime);
  });

  test("a run that moved on since it was found is left alone; the superseded process can no longer write", async () => {
    const { clock, store, run, claim } = await setup();
    clock.advance(SUBMITTED_MS + 1000);
    const found = (
      await store.runs.findStale({
        submittedBefore: new Date(clock.now().getTime() - SUBMITTED_MS),
        heartbeatBefore: new Date(clock.now().getTime() - HEARTBEAT_MS),
      })
    ).find((s) => s.run.id === run.id);
    assert.equal(found?.reason, "never-started");
    // Meanwhile the run starts.
    const running = await store.runs.setState(
      run.id,
      st("Running", clock.now()),
      found!.run.version,
    );
    assert.equal(await store.runs.recoverStale(found!, 3), undefined);
    assert.equal((await store.runs.get(run.id)).state.type, "Running");

    // Now its heartbeats stop: it is rescheduled and claimed again; the first
    // process's writes (old version, old claim) are refused.
    clock.advance(HEARTBEAT_MS + 1000);
    const lost = (
      await store.runs.findStale({
        submittedBefore: new Date(clock.now().getTime() - SUBMITTED_MS),
        heartbeatBefore: new Date(clock.now().getTime() - HEARTBEAT_MS),
      })
    ).find((s) => s.run.id === run.id);
    assert.equal(lost?.reason, "heartbeat-lost");
    await store.runs.recoverStale(lost!, 3);
    const second = await claim();
    assert.equal(second.claimCount, 2);
    await expectCode(
      () => store.runs.setState(run.id, st("Success", clock.now()), running.version),
      "STALE_VERSION",
      "the first process finishing late",
    );
    await expectCode(
      () =>
        store.taskRuns.setStates([
          { flowRunId: run.id, slug: "a", state: st("Running"), version: 0, claim: 1 },
        ]),
      "STALE_VERSION",
      "the first process's task states",
    );
  });

  test("a Cancelling run whose heartbeats stopped is Cancelled", async () => {
    const { clock, store, health, run } = await setup();
    const running = await store.runs.setState(run.id, st("Running", clock.now()), 2);
    const cancelling = await store.runs.cancel(run.id);
    assert.equal(cancelling.state.type, "Cancelling");
    assert.ok(cancelling.version > running.version);
    clock.advance(HEARTBEAT_MS + 1000);
    await health.tick();
    const after = await store.runs.get(run.id);
    assert.equal(after.state.type, "Cancelled");
    assert.match(after.state.message ?? "", /heartbeats stopped/);
  });

  test("an agent that stops sending heartbeats: its Submitted run is freed once the agent timeout passes", async () => {
    const { clock, store, health, run, agent, logger } = await setup(2, AGENT_MS);
    for (let i = 0; i < 2; i++) {
      clock.advance(AGENT_MS - 5000);
      await store.agents.heartbeat(agent.id);
      await health.tick();
    }
    assert.equal((await store.runs.get(run.id)).state.type, "Submitted", "alive, so held");
    // The agent dies: no more heartbeats.
    clock.advance(AGENT_MS - 1000);
    await health.tick();
    assert.equal((await store.runs.get(run.id)).state.type, "Submitted", "not yet");
    clock.advance(2000);
    await health.tick();
    const after = await store.runs.get(run.id);
    assert.equal(after.state.type, "Scheduled");
    assert.equal(after.agentId, undefined);
    assert.match(after.state.message ?? "", /stopped sending heartbeats .*before starting it/);
    assert.ok(logger.lines.some((l) => l.level === "warn" && l.message.includes(run.id)));
  });

  test("a slow start on a live agent that holds the run is not rescheduled before the submitted timeout", async () => {
    const { clock, store, health, run, agent } = await setup(2, AGENT_MS);
    // Deploying takes long (an image pull): the agent beats every 5 s, listing the run.
    for (let t = 0; t < SUBMITTED_MS - 5000; t += 5000) {
      clock.advance(5000);
      await store.agents.heartbeat(agent.id, {
        holding: [run.id],
        claimedBefore: new Date(clock.now().getTime() - 10_000),
      });
      await health.tick();
    }
    const still = await store.runs.get(run.id);
    assert.equal(still.state.type, "Submitted", still.state.message);
    assert.equal(still.rescheduleCount, 0);
  });

  test("a Running run whose agent went silent is rescheduled once its own heartbeats stopped as long", async () => {
    const { clock, store, health, run } = await setup(2, AGENT_MS);
    await store.runs.setState(run.id, st("Running", clock.now()), 2);
    clock.advance(AGENT_MS + 1000);
    await health.tick();
    const after = await store.runs.get(run.id);
    assert.equal(after.state.type, "Scheduled", "well before the 30 s heartbeat timeout");
    assert.match(after.state.message ?? "", /stopped sending heartbeats .*while it ran/);
  });

  test("silence while the database was unreachable is not counted", async () => {
    const { clock, store, health, run, agent } = await setup(2, AGENT_MS);
    await store.agents.heartbeat(agent.id);
    // The database goes away: a tick fails, and nobody's heartbeat can be written.
    const unreachable = Object.assign(new Error("connection refused"), {
      code: "DATABASE_UNAVAILABLE",
    });
    const failing = createRunHealth({
      db: {
        ...store,
        runs: new Proxy(store.runs, {
          get: (target, key, receiver) =>
            key === "findStale"
              ? () => Promise.reject(unreachable)
              : Reflect.get(target, key, receiver),
        }),
      },
      logger: recordingLogger(),
      now: clock.now,
      agentTimeoutMs: AGENT_MS,
    });
    await failing.tick().catch(() => {});
    void failing;
    // The same loop, now able to reach the database again 60 s later.
    const recovering = createRunHealth({
      db: store,
      logger: recordingLogger(),
      now: clock.now,
      agentTimeoutMs: AGENT_MS,
    });
    clock.advance(60_000);
    await recovering.tick();
    assert.equal(
      (await store.runs.get(run.id)).state.type,
      "Submitted",
      "the agent gets a full timeout after the database is back",
    );
    clock.advance(AGENT_MS + 1000);
    await recovering.tick();
    assert.equal((await store.runs.get(run.id)).state.type, "Scheduled", "then it is freed");
    void health;
  });

  test("a tick that comes far too late (the process stalled) does not count the stall as silence", async () => {
    const { clock, store, run, agent } = await setup(2, AGENT_MS);
    const health = createRunHealth({
      db: store,
      logger: recordingLogger(),
      now: clock.now,
      intervalMs: 500,
      agentTimeoutMs: AGENT_MS,
      submittedTimeoutMs: SUBMITTED_MS,
    });
    await store.agents.heartbeat(agent.id);
    await health.tick();
    // The event loop is blocked (a CPU-bound task of an agent in this process): that is the fault.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2 * 500 + 1200);
    clock.advance(AGENT_MS + 1000);
    await health.tick();
    assert.equal(
      (await store.runs.get(run.id)).state.type,
      "Submitted",
      "the agent could not beat while this process stood still",
    );
    clock.advance(AGENT_MS + 1000);
    await health.tick();
    assert.equal((await store.runs.get(run.id)).state.type, "Scheduled", "then it is freed");
  });

  test("an agent's heartbeat listing its runs gives back a claim whose answer never reached it", async () => {
    const { clock, store, run, agent } = await setup();
    const report = (holding: string[]) => ({
      holding,
      claimedBefore: new Date(clock.now().getTime() - 10_000),
    });
    clock.advance(5000);
    await store.agents.heartbeat(agent.id, report([]));
    assert.equal((await store.runs.get(run.id)).state.type, "Submitted", "answer maybe in flight");
    clock.advance(6000);
    await store.agents.heartbeat(agent.id, report([run.id]));
    await store.agents.heartbeat(agent.id);
    assert.equal((await store.runs.get(run.id)).state.type, "Submitted", "held, or not said");
    let woke = false;
    const unsubscribe = store.runs.onChanged(() => {
      woke = true;
    });
    await store.agents.heartbeat(agent.id, report([]));
    unsubscribe();
    const after = await store.runs.get(run.id);
    assert.equal(after.state.type, "Scheduled");
    assert.equal(after.agentId, undefined);
    assert.equal(after.rescheduleCount, 0, "not the run's fault: no reschedule counted");
    assert.match(
      after.state.message ?? "",
      /does not hold it: the answer to its claim .* never reached/,
    );
    assert.ok(woke, "waiting claims wake at once");
  });
});
