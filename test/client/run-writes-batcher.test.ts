// The run-writes batcher against a real server: the reporters of many runs share
// requests (one in flight, the rest gathered into the next), and a run whose write is
// stale is lost alone while the runs batched beside it are recorded.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createApiReporter } from "../../src/client/api-reporter.ts";
import { createRunWritesBatcher } from "../../src/client/run-writes-batcher.ts";
import { State } from "../../src/core/states.ts";
import type { ClaimedRun, RunWrite } from "../../src/serialization/api-schemas.ts";
import { startTestServer, type TestServer } from "../agent/agent-server.ts";
import { chain } from "../fixtures/agent/agent-flows.ts";

describe("run-writes batcher", () => {
  const servers: TestServer[] = [];
  after(() => Promise.all(servers.map((x) => x.close())));

  test("many runs' reporters share requests; a stale run is lost alone, the others are recorded", async () => {
    const s = await startTestServer("sqlite");
    servers.push(s);
    await s.register(chain);
    const count = 8;
    for (let i = 0; i < count; i++)
      await s.api.createFlowRun({ flowName: "agent-chain", parameters: { marks: "/dev/null" } });
    const agent = await s.api.registerAgent({ name: `batcher-${Date.now()}` });
    const claimed: ClaimedRun[] = await s.api.claimFlowRuns(agent.id, { limit: count });
    assert.equal(claimed.length, count);

    const requests: RunWrite[][] = [];
    const batcher = createRunWritesBatcher({
      writeRuns: (writes) => {
        requests.push([...writes]);
        return s.api.writeRuns(writes);
      },
    });
    // The last run is moved on by someone else first: its reporter's version is stale.
    const stale = claimed.at(-1)!.run;
    await s.api.setFlowRunState(
      stale.id,
      { schemaVersion: 1, type: "Running", timestamp: new Date().toISOString() },
      stale.version,
    );
    const lost: string[] = [];
    const info = (id: string) => ({ id, flowName: "agent-chain", parameters: {}, taskCount: 1 });
    const reporters = claimed.map(({ run }) =>
      createApiReporter({
        api: batcher,
        flowRunId: run.id,
        flowRunVersion: run.version,
        claim: run.claimCount,
        onLost: () => lost.push(run.id),
      }),
    );
    const task = { slug: "a-1", name: "a", mapped: false };
    for (const [i, r] of reporters.entries()) {
      const id = claimed[i]!.run.id;
      r.flowState(info(id), new State("Running"));
      r.taskState(info(id), task, undefined, new State("Running"));
      r.taskState(info(id), task, undefined, new State("Success"));
      r.log({ level: "info", message: `run ${i}`, time: Date.now(), flowRunId: id });
      r.flowState(info(id), new State("Success"));
    }
    await Promise.all(reporters.map((r) => r.close()));

    assert.deepEqual(lost, [stale.id], "only the stale run is lost");
    for (const { run } of claimed.slice(0, -1)) {
      const detail = await s.api.getFlowRun(run.id);
      assert.equal(detail.state.type, "Success");
      assert.deepEqual(
        detail.taskRuns.map((t) => [t.slug, t.state.type, t.version]),
        [["a-1", "Success", 2]],
      );
    }
    assert.equal((await s.api.getFlowRun(stale.id)).taskRuns.length, 0);
    // Eight runs × (Running, task states + logs, Success) in far fewer requests than writes,
    // and some request carried writes of several runs.
    const writes = requests.reduce((n, r) => n + r.length, 0);
    assert.ok(requests.length < writes, `${requests.length} requests for ${writes} writes`);
    assert.ok(
      requests.some((r) => new Set(r.map(runOf)).size > 1),
      "a request carried several runs' writes",
    );
  });

  /** A server with a run of the chain flow, claimed by a new agent named `name`-<time>. */
  async function claimedChainRun(name: string) {
    const s = await startTestServer("sqlite");
    servers.push(s);
    await s.register(chain);
    const { run: created } = await s.api.createFlowRun({
      flowName: "agent-chain",
      parameters: { marks: "/dev/null" },
    });
    const agent = await s.api.registerAgent({ name: `${name}-${Date.now()}` });
    const [claimed] = await s.api.claimFlowRuns(agent.id, { limit: 1 });
    return { s, created, claimed, agent };
  }

  test("a run's writes made together go in one request, in order", async () => {
    const { s, created, claimed } = await claimedChainRun("batcher-order");
    assert.equal(claimed?.run.id, created.id);
    const requests: RunWrite[][] = [];
    const batcher = createRunWritesBatcher({
      writeRuns: (writes) => {
        requests.push([...writes]);
        return s.api.writeRuns(writes);
      },
    });
    const reporter = createApiReporter({
      api: batcher,
      flowRunId: created.id,
      flowRunVersion: claimed!.run.version,
      claim: claimed!.run.claimCount,
    });
    const info = { id: created.id, flowName: "agent-chain", parameters: {}, taskCount: 1 };
    const task = { slug: "a-1", name: "a", mapped: false };
    reporter.flowState(info, new State("Running"));
    reporter.taskState(info, task, undefined, new State("Running"));
    reporter.taskState(info, task, undefined, new State("Success"));
    reporter.flowState(info, new State("Success"));
    await reporter.close();
    assert.equal(reporter.error, undefined);
    assert.deepEqual(
      requests.map((r) => r.map((w) => w.kind)),
      [["flowRunState", "taskRunStates", "flowRunState"]],
      "one request, in order",
    );
    const detail = await s.api.getFlowRun(created.id);
    assert.deepEqual(
      detail.history.map((h) => h.type),
      ["Scheduled", "Submitted", "Running", "Success"],
    );
    assert.deepEqual(
      detail.taskRuns.map((t) => [t.slug, t.state.type, t.version]),
      [["a-1", "Success", 2]],
    );
  });

  test("a group whose Running is stale: the run is lost, and its later writes are not applied", async () => {
    const { s, created, claimed } = await claimedChainRun("batcher-stale");
    // Someone else moves it on first (a cancel): the reporter's version is stale.
    await s.api.setFlowRunState(
      created.id,
      { schemaVersion: 1, type: "Cancelled", timestamp: new Date().toISOString() },
      claimed!.run.version,
    );
    const lost: string[] = [];
    const reporter = createApiReporter({
      api: createRunWritesBatcher({ writeRuns: (writes) => s.api.writeRuns(writes) }),
      flowRunId: created.id,
      flowRunVersion: claimed!.run.version,
      claim: claimed!.run.claimCount,
      onLost: () => lost.push(created.id),
    });
    const info = { id: created.id, flowName: "agent-chain", parameters: {}, taskCount: 1 };
    const task = { slug: "a-1", name: "a", mapped: false };
    reporter.flowState(info, new State("Running"));
    reporter.taskState(info, task, undefined, new State("Success"));
    reporter.flowState(info, new State("Success"));
    await reporter.close();
    assert.deepEqual(lost, [created.id]);
    const detail = await s.api.getFlowRun(created.id);
    assert.equal(detail.state.type, "Cancelled");
    assert.deepEqual(detail.taskRuns, []);
  });
});

function runOf(write: RunWrite): string {
  return write.kind === "flowRunState"
    ? write.flowRunId
    : write.kind === "taskRunStates"
      ? write.states[0]!.flowRunId
      : write.logs[0]!.flowRunId;
}
