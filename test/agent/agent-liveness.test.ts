// Agent liveness in run health, against a real server (SQLite; PostgreSQL too
// when WEFT_TEST_POSTGRES_URL is set) with short test settings: a run claimed
// by an agent that then goes silent is freed within the agent timeout, a run
// its live agent holds is not, and a claim the server committed whose answer
// never reached the agent is given back on the agent's next heartbeat and run.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, describe, test } from "node:test";
import type { AgentApi } from "../../src/agent/agent.ts";
import { WeftError } from "../../src/core/errors.ts";
import { chain } from "../fixtures/agent/agent-flows.ts";
import { POSTGRES_URL } from "../server/dialects.ts";
import { startTestServer, type TestServer } from "./agent-server.ts";

const dialects = [
  ["sqlite", false],
  ["postgres", POSTGRES_URL === undefined ? "WEFT_TEST_POSTGRES_URL not set" : false],
] as const;

const AGENT_TIMEOUT_MS = 3000;

for (const [dialect, skip] of dialects) {
  describe(`agent liveness (${dialect})`, { skip, concurrency: true }, () => {
    const servers: TestServer[] = [];
    const serve = async () => {
      const s = await startTestServer(dialect, {
        claimAnswerGraceMs: 1500,
        scheduler: false,
        runHealth: { intervalMs: 100, agentTimeoutMs: AGENT_TIMEOUT_MS },
      });
      servers.push(s);
      return s;
    };
    after(() => Promise.all(servers.map((s) => s.close())));

    test("a run claimed by an agent that goes silent is freed; one its live agent holds is not", async () => {
      const s = await serve();
      const label = `l-${randomUUID().slice(0, 8)}`;
      await s.register(chain, { labels: [label] });
      // Two agents speaking the API by hand: each claims one run and does not start it.
      const dead = await s.api.registerAgent({ name: `dead-${randomUUID()}`, labels: [label] });
      const slow = await s.api.registerAgent({ name: `slow-${randomUUID()}`, labels: [label] });
      const { run: first } = await s.api.createFlowRun({ flowName: "agent-chain" });
      const [deadClaim] = await s.api.claimFlowRuns(dead.id, { limit: 1 });
      const { run: second } = await s.api.createFlowRun({ flowName: "agent-chain" });
      const [slowClaim] = await s.api.claimFlowRuns(slow.id, { limit: 1 });
      // The silent agent claims once more after the slow one: it was seen last after it.
      const { run: third } = await s.api.createFlowRun({ flowName: "agent-chain" });
      const [lastClaim] = await s.api.claimFlowRuns(dead.id, { limit: 1 });
      assert.equal(deadClaim?.run.id, first.id);
      assert.equal(slowClaim?.run.id, second.id);
      assert.equal(lastClaim?.run.id, third.id);
      const lastSeen = Date.parse(lastClaim!.run.state.timestamp);
      // The slow agent is alive and says it holds its run (a long deploy); the other is silent.
      const beating = setInterval(() => {
        s.api.heartbeatAgent(slow.id, [second.id]).catch(() => {});
      }, 200);
      try {
        for (const id of [first.id, third.id]) {
          const freed = await s.waitFor(id, ["Scheduled"], 30_000);
          const took = Date.parse(freed.state.timestamp) - lastSeen;
          assert.ok(took >= AGENT_TIMEOUT_MS, `freed ${took} ms after the agent was last seen`);
          assert.match(freed.state.message ?? "", /stopped sending heartbeats/);
          assert.equal(freed.agentId, undefined);
        }
        // Claimed before the silent agent was last seen: had its live agent counted as
        // silent, run health would have freed it by now.
        const held = await s.api.getFlowRun(second.id);
        assert.equal(held.state.type, "Submitted", held.state.message);
        assert.equal(held.agentId, slow.id);
      } finally {
        clearInterval(beating);
      }
    });

    test("a claim committed whose answer never reached the agent is given back and run", async () => {
      const s = await serve();
      const label = `l-${randomUUID().slice(0, 8)}`;
      await s.register(chain, { labels: [label] });
      // The agent's first claim answer that carries a run is lost on the way (the server committed it).
      let lost: string | undefined;
      const lossy: AgentApi = Object.create(s.api);
      lossy.claimFlowRuns = async (agentId, options) => {
        const runs = await s.api.claimFlowRuns(agentId, options);
        if (lost === undefined && runs.length > 0) {
          lost = runs[0]!.run.id;
          throw new WeftError("API_UNREACHABLE", "the connection was reset before the answer");
        }
        return runs;
      };
      s.agent({ api: lossy, labels: [label], heartbeatIntervalMs: 100 });
      const { run } = await s.api.createFlowRun({ flowName: "agent-chain" });
      const done = await s.waitFor(run.id, undefined, 30_000);
      assert.equal(lost, run.id, "the answer carrying the run was the one lost");
      assert.equal(done.state.type, "Success", done.state.message);
      assert.deepEqual(
        done.history.map((h) => h.type),
        ["Scheduled", "Submitted", "Scheduled", "Submitted", "Running", "Success"],
      );
      assert.match(done.history[2]?.message ?? "", /does not hold it/);
      assert.equal(done.rescheduleCount, 0);
    });
  });
}
