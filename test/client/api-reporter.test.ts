// The API reporter against a real server: batches in order, the final flow
// state after every task state, retries while the server is away, a retried
// batch not applied twice, and a run taken away stops it.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { type ApiClient, ApiError } from "../../src/client/api-client.ts";
import { createApiReporter, type ReportingApi } from "../../src/client/api-reporter.ts";
import type { LogRecord } from "../../src/core/reporter.ts";
import { State } from "../../src/core/states.ts";
import type { ClaimedRun, TaskRunStateWrite } from "../../src/serialization/api-schemas.ts";
import { stateToWire } from "../../src/serialization/flow-run-protocol.ts";
import type { SerializedState } from "../../src/serialization/schemas.ts";
import { startTestServer, type TestServer } from "../agent/agent-server.ts";
import { chain, wide } from "../fixtures/agent/agent-flows.ts";

/** Calls through to the real client, recording what was asked, in order. */
function recording(api: ApiClient) {
  const calls: string[] = [];
  const writes: TaskRunStateWrite[][] = [];
  const through: ReportingApi = {
    async setTaskRunStates(batch) {
      calls.push(`tasks:${batch.length}`);
      writes.push(batch);
      return api.setTaskRunStates(batch);
    },
    async setFlowRunState(id: string, state: SerializedState, version: number) {
      calls.push(`flow:${state.type}`);
      return api.setFlowRunState(id, state, version);
    },
    async ingestLogs(records: LogRecord[]) {
      calls.push(`logs:${records.length}`);
      return api.ingestLogs(records);
    },
  };
  return { calls, writes, api: through };
}

/** Registers `flow`, creates a run and claims it, as an agent would. */
async function claimed(s: TestServer, flowName: string, parameters = {}): Promise<ClaimedRun> {
  await s.api.createFlowRun({ flowName, parameters });
  const agent = await s.api.registerAgent({ name: `reporter-${Date.now()}` });
  const [run] = await s.api.claimFlowRuns(agent.id, { limit: 1 });
  assert.ok(run, "the run was claimed");
  return run;
}

describe("API reporter", { concurrency: true }, () => {
  const servers: TestServer[] = [];
  const serve = async () => {
    const s = await startTestServer("sqlite");
    servers.push(s);
    return s;
  };
  after(() => Promise.all(servers.map((x) => x.close())));

  test("states in their wire form (a flow-run process's events) are written as they came, the same writes as from States", async () => {
    const s = await serve();
    await s.register(chain);
    const { run } = await claimed(s, "agent-chain", { marks: "/dev/null" });
    const rec = recording(s.api);
    const reporter = createApiReporter({
      api: rec.api,
      flowRunId: run.id,
      flowRunVersion: run.version,
      claim: run.claimCount,
    });
    const info = { id: run.id, flowName: "agent-chain", parameters: {}, taskCount: 4 };
    const first = { slug: "first-1", name: "first", mapped: false };
    const started = new State("Running", undefined, undefined, undefined, 1_000);
    const done = State.withResult("Success", undefined, { big: "stays" }, 1_000, 1, undefined);
    reporter.wireFlowState(info, stateToWire(started));
    reporter.wireTaskState(info, first, undefined, stateToWire(started));
    reporter.taskState(info, first, undefined, done);
    await reporter.flush();
    const [batch] = rec.writes;
    assert.deepEqual(
      batch?.map((w) => [w.slug, w.version, w.state]),
      [
        ["first-1", 0, stateToWire(started)],
        ["first-1", 1, stateToWire(done)],
      ],
      "one form on the wire, whichever way a state came",
    );
    assert.equal("result" in (batch?.[1]?.state ?? {}), false, "results stay where they ran");
    const detail = await s.api.getFlowRun(run.id);
    assert.equal(detail.state.type, "Running");
    assert.equal(detail.taskRuns.find((t) => t.slug === "first-1")?.state.type, "Success");
    await reporter.close();
  });

  test("sends task states in batches, in order, and the final flow state after all of them", async () => {
    const s = await serve();
    await s.register(wide);
    const { run } = await claimed(s, "agent-wide", { count: 500 });
    const rec = recording(s.api);
    const reporter = createApiReporter({
      api: rec.api,
      flowRunId: run.id,
      flowRunVersion: run.version,
      claim: run.claimCount,
      maxBatch: 200,
    });
    const result = await wide.run({ flowRunId: run.id, parameters: { count: 500 }, reporter });
    await reporter.close();
    assert.equal(result.state.type, "Success");
    const detail = await s.api.getFlowRun(run.id);
    assert.equal(detail.state.type, "Success");
    // the count parameter, items, double (the mapped parent) and its 500 children.
    assert.equal(detail.taskRuns.length, 503);
    assert.ok(
      detail.taskRuns.every((t) => t.state.type === "Success" || t.state.type === "Mapped"),
    );
    const taskCalls = rec.calls.filter((c) => c.startsWith("tasks:"));
    const sent = taskCalls.reduce((n, c) => n + Number(c.split(":")[1]), 0);
    assert.ok(sent >= 1004, `every state was sent (${sent})`);
    assert.ok(
      taskCalls.length <= Math.ceil(sent / 200) + 4,
      `batched: ${taskCalls.length} requests`,
    );
    assert.equal(rec.calls.at(-1), "flow:Success", "the final state went last");
    assert.equal(rec.calls[0], "flow:Running", "Running went first");
  });

  test("while the server is away the reporter retries; once it is back every state is recorded", async () => {
    const s = await serve();
    await s.register(chain);
    const { run } = await claimed(s, "agent-chain");
    const retries: string[] = [];
    const reporter = createApiReporter({
      api: s.api,
      flowRunId: run.id,
      flowRunVersion: run.version,
      flushIntervalMs: 10,
      logger: {
        debug() {},
        info() {},
        warn: (m) => retries.push(m),
        error: (m) => retries.push(m),
      },
    });
    await s.stop();
    // The run ends by closing its reporter, which waits until the server has every state.
    const running = chain.run({ flowRunId: run.id, reporter });
    await new Promise((r) => setTimeout(r, 600));
    await s.restart();
    const result = await running;
    assert.equal(result.state.type, "Success");
    assert.ok(
      retries.some((m) => /retrying in \d+ ms/.test(m)),
      retries.join("\n"),
    );
    assert.equal(reporter.error, undefined);
    const detail = await s.api.getFlowRun(run.id);
    assert.equal(detail.state.type, "Success");
    assert.deepEqual(detail.taskRuns.map((t) => [t.slug, t.state.type, t.version]).sort(), [
      ["first-1", "Success", 2],
      ["marks", "Success", 1],
      ["second-1", "Success", 2],
      ["third-1", "Success", 2],
    ]);
  });

  test("a batch the server applied but whose answer was lost is sent again and not applied twice", async () => {
    const s = await serve();
    await s.register(chain);
    const { run } = await claimed(s, "agent-chain");
    let lost = 0;
    const flaky: ReportingApi = {
      async setTaskRunStates(batch) {
        const versions = await s.api.setTaskRunStates(batch);
        if (lost++ === 0) throw new ApiError("API_UNREACHABLE", "the answer was lost", 0);
        return versions;
      },
      setFlowRunState: (id, state, version) => s.api.setFlowRunState(id, state, version),
      ingestLogs: (records) => s.api.ingestLogs(records),
    };
    const reporter = createApiReporter({
      api: flaky,
      flowRunId: run.id,
      flowRunVersion: run.version,
    });
    await chain.run({ flowRunId: run.id, reporter });
    await reporter.close();
    assert.ok(lost >= 2, "the first batch was sent again");
    assert.equal(reporter.error, undefined, "the repeat was accepted");
    const detail = await s.api.getFlowRun(run.id);
    assert.equal(detail.state.type, "Success");
    // A parameter reports Success only; a task Running, then Success.
    for (const t of detail.taskRuns)
      assert.equal(t.version, t.slug === "marks" ? 1 : 2, `${t.slug} got each state once`);
  });

  test("a run taken away (its version moved on): onLost fires and the reporter stops writing", async () => {
    const s = await serve();
    await s.register(chain);
    const { run } = await claimed(s, "agent-chain");
    // Someone else (run health, another agent) moved the run on.
    await s.api.setFlowRunState(
      run.id,
      { schemaVersion: 1, type: "Scheduled", timestamp: new Date().toISOString() },
      run.version,
    );
    let lostWith: Error | undefined;
    const rec = recording(s.api);
    const reporter = createApiReporter({
      api: rec.api,
      flowRunId: run.id,
      flowRunVersion: run.version,
      onLost: (error) => {
        lostWith = error;
      },
    });
    await chain.run({ flowRunId: run.id, reporter });
    await reporter.close();
    assert.match(lostWith?.message ?? "", /version/);
    assert.equal(reporter.error, lostWith);
    assert.deepEqual(rec.calls, ["flow:Running"], "nothing was written after the refusal");
    assert.equal((await s.api.getFlowRun(run.id)).state.type, "Scheduled");
  });
});
