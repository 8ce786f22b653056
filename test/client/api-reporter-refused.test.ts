// Issue 13, item 7: an oversized state must not lose a run. A task throwing a
// 17 MB message ends Failed promptly through a real server and agent, with its
// message cut to 64 KiB; and a reporter whose write the server refuses (413 for
// size, 400 for content) splits, shrinks or drops that write and reports the rest.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { ApiError } from "../../src/client/api-client.ts";
import { createApiReporter, type ReportingApi } from "../../src/client/api-reporter.ts";
import { ERROR_TEXT_LIMIT } from "../../src/core/states.ts";
import type { ClaimedRun } from "../../src/serialization/api-schemas.ts";
import { recordingLogger, startTestServer, type TestServer } from "../agent/agent-server.ts";
import { hugeError } from "../fixtures/agent/agent-flows.ts";
import { POSTGRES_URL } from "../server/dialects.ts";

const dialects = [
  ["sqlite", false],
  ["postgres", POSTGRES_URL === undefined ? "WEFT_TEST_POSTGRES_URL not set" : false],
] as const;

async function claimed(s: TestServer, parameters: Record<string, number>): Promise<ClaimedRun> {
  await s.api.createFlowRun({ flowName: "agent-huge-error", parameters });
  const agent = await s.api.registerAgent({ name: `refused-${Date.now()}` });
  const [run] = await s.api.claimFlowRuns(agent.id, { limit: 1 });
  assert.ok(run, "the run was claimed");
  return run;
}

for (const [dialect, skip] of dialects) {
  describe(`oversized and refused states (${dialect})`, { skip, concurrency: true }, () => {
    const servers: TestServer[] = [];
    const serve = async (options = {}) => {
      const s = await startTestServer(dialect, options);
      servers.push(s);
      return s;
    };
    after(() => Promise.all(servers.map((s) => s.close())));

    test("a task throwing a 17 MB message ends Failed promptly, its message cut to 64 KiB", async () => {
      const s = await serve();
      await s.register(hugeError);
      s.agent();
      const { run } = await s.api.createFlowRun({ flowName: "agent-huge-error", parameters: {} });
      // Far below run health's timeouts: the run is not rescheduled, it ends by itself.
      const done = await s.waitFor(run.id, undefined, 30_000);
      assert.equal(done.state.type, "Failed", done.state.message);
      assert.equal(done.rescheduleCount ?? 0, 0, "the run was not rescheduled");
      const loud = done.taskRuns.find((t) => t.slug === "loud-1");
      assert.equal(loud?.state.type, "Failed");
      const message = loud.state.message ?? "";
      assert.ok(message.length <= ERROR_TEXT_LIMIT, `message of ${message.length} characters`);
      assert.match(message, /^loud failure xxx/);
      assert.match(message, /… \[truncated [\d,]+ characters\]$/);
      assert.match(loud.state.error?.message ?? "", /… \[truncated [\d,]+ characters\]$/);
      assert.ok((loud.state.error?.stack?.length ?? 0) <= ERROR_TEXT_LIMIT);
      assert.equal(done.taskRuns.find((t) => t.slug === "fine-1")?.state.type, "Success");
    });

    test("a batch refused for its size (413) is split and shrunk; the rest and the final state are recorded", async () => {
      // 40 KB bodies at most: the 50 KB message (under the 64 KiB cut) makes its batch too large.
      const s = await serve({ bodyLimitBytes: 40_000 });
      await s.register(hugeError);
      const run = (await claimed(s, { size: 50_000 })).run;
      const logger = recordingLogger();
      const reporter = createApiReporter({
        api: s.api,
        flowRunId: run.id,
        flowRunVersion: run.version,
        claim: run.claimCount,
        logger,
      });
      const result = await hugeError.run({
        flowRunId: run.id,
        parameters: { size: 50_000 },
        reporter,
      });
      await reporter.close();
      assert.equal(result.state.type, "Failed");
      assert.equal(reporter.error, undefined, "the reporter did not stop");
      const detail = await s.api.getFlowRun(run.id);
      assert.equal(detail.state.type, "Failed", "the final state was recorded");
      const states = Object.fromEntries(detail.taskRuns.map((t) => [t.slug, t.state]));
      assert.equal(states["fine-1"]?.type, "Success");
      assert.equal(states.size?.type, "Success");
      assert.equal(states["loud-1"]?.type, "Failed");
      assert.ok((states["loud-1"]?.message?.length ?? 0) <= 2048, "the refused state was shrunk");
      assert.match(states["loud-1"]?.message ?? "", /^loud failure x+… \[truncated/);
      assert.equal(states["loud-1"]?.error?.stack, undefined, "without its stack");
      const warning = logger.lines.find((l) => l.level === "warn" && /refused/.test(l.message));
      assert.ok(warning, JSON.stringify(logger.lines));
      assert.match(warning.message, /loud-1's Failed state/);
    });

    test("a write refused for its content (400) even shrunk is dropped; later states of that task run still land", async () => {
      const s = await serve();
      await s.register(hugeError);
      const run = (await claimed(s, { size: 10 })).run;
      const logger = recordingLogger();
      let refusals = 0;
      // The real server, except that it refuses loud-1's Running state (as a validation rule would).
      const api: ReportingApi = {
        async setTaskRunStates(writes) {
          if (writes.some((w) => w.slug === "loud-1" && w.state.type === "Running")) {
            refusals++;
            throw new ApiError("INVALID_REQUEST", "state.message: too long", 400);
          }
          return s.api.setTaskRunStates(writes);
        },
        setFlowRunState: (id, state, version) => s.api.setFlowRunState(id, state, version),
        ingestLogs: (records) => s.api.ingestLogs(records),
      };
      const reporter = createApiReporter({
        api,
        flowRunId: run.id,
        flowRunVersion: run.version,
        claim: run.claimCount,
        logger,
        flushIntervalMs: 1000,
      });
      await hugeError.run({ flowRunId: run.id, parameters: { size: 10 }, reporter });
      await reporter.close();
      assert.equal(reporter.error, undefined, "the reporter did not stop");
      assert.ok(refusals >= 2, "sent as is, then shrunk");
      const detail = await s.api.getFlowRun(run.id);
      assert.equal(detail.state.type, "Failed");
      const loud = detail.taskRuns.find((t) => t.slug === "loud-1");
      assert.equal(loud?.state.type, "Failed", "the later state of the task run landed");
      assert.equal(loud.version, 1, "its version counts without the dropped state");
      assert.ok(
        logger.lines.some(
          (l) => l.level === "error" && /dropped, reporting goes on/.test(l.message),
        ),
        JSON.stringify(logger.lines),
      );
    });
  });
}
