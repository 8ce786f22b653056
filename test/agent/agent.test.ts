// The agent against a real server (SQLite; PostgreSQL too when
// WEFT_TEST_POSTGRES_URL is set): claims, deploys through the run's own
// environment and storage, reports every state and log, and survives bad
// deployments, a wrong address and a wrong token without crashing.
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { startAgent } from "../../src/agent/agent.ts";
import { createApiClient } from "../../src/client/api-client.ts";
import { sleep } from "../../src/client/backoff.ts";
import { chain, slow } from "../fixtures/agent/agent-flows.ts";
import { vanishing } from "../fixtures/agent/vanishing-flow.ts";
import { POSTGRES_URL } from "../server/dialects.ts";
import { recordingLogger, startTestServer, type TestServer } from "./agent-server.ts";

const dialects = [
  ["sqlite", false],
  ["postgres", POSTGRES_URL === undefined ? "WEFT_TEST_POSTGRES_URL not set" : false],
] as const;

function marksOf(file: string): string[] {
  return existsSync(file) ? readFileSync(file, "utf8").trim().split("\n").filter(Boolean) : [];
}

for (const [dialect, skip] of dialects) {
  describe(`agent (${dialect})`, { skip, concurrency: true }, () => {
    const servers: TestServer[] = [];
    const serve = async () => {
      const s = await startTestServer(dialect);
      servers.push(s);
      return s;
    };
    after(() => Promise.all(servers.map((s) => s.close())));

    test("runs a claimed run through the local environment: every task state and log is recorded", async () => {
      const s = await serve();
      await s.register(chain);
      s.agent();
      const marks = join(s.dir, "marks");
      const { run } = await s.api.createFlowRun({ flowName: "agent-chain", parameters: { marks } });
      const done = await s.waitFor(run.id);
      assert.equal(done.state.type, "Success", done.state.message);
      assert.deepEqual(
        done.history.map((h) => h.type),
        ["Scheduled", "Submitted", "Running", "Success"],
      );
      const tasks = new Map(done.taskRuns.map((t) => [t.slug, t]));
      for (const slug of ["first-1", "second-1", "third-1"]) {
        assert.equal(tasks.get(slug)?.state.type, "Success", slug);
        assert.equal(tasks.get(slug)?.version, 2, `${slug}: Running then Success, once each`);
      }
      assert.ok(
        done.agentId !== undefined && done.startTime !== undefined && done.endTime !== undefined,
      );
      const logs = await s.api.listLogs(run.id);
      assert.ok(
        logs.items.some((l) => l.message === "first ran" && l.taskSlug === "first-1"),
        `the task's log line is stored with its task: ${JSON.stringify(logs.items.map((l) => l.message))}`,
      );
      assert.deepEqual(marksOf(marks), [`first ${run.id}`, `second ${run.id}`, `third ${run.id}`]);
    });

    test("a run goes only to an agent that carries all its labels", async () => {
      const s = await serve();
      await s.register(chain, { labels: ["gpu", "eu"] });
      const without = s.agent({ labels: ["gpu"] });
      const { run } = await s.api.createFlowRun({ flowName: "agent-chain" });
      await sleep(1500);
      assert.equal(
        (await s.api.getFlowRun(run.id)).state.type,
        "Scheduled",
        "the gpu-only agent left it",
      );
      assert.equal(without.active, 0);
      s.agent({ labels: ["eu", "gpu", "extra"] });
      const done = await s.waitFor(run.id);
      assert.equal(done.state.type, "Success", done.state.message);
      assert.notEqual(done.agentId, without.id);
    });

    test("a stored flow with an unknown storage type: its run Failed with that message, and the agent keeps running", async () => {
      const s = await serve();
      await s.register(chain);
      const good = await s.api.getFlow((await s.api.listFlows()).items[0]!.id);
      const broken = {
        ...good.flow,
        name: "broken-storage",
        storage: { type: "ftp", schemaVersion: 1, host: "files.example" },
      };
      // Registration refuses it now: it stands for a flow stored before it checked storages.
      await s.server.db.flows.register(broken);
      s.agent();
      const { run: bad } = await s.api.createFlowRun({ flowName: "broken-storage" });
      const failed = await s.waitFor(bad.id);
      assert.equal(failed.state.type, "Failed");
      assert.match(failed.state.message ?? "", /deploy failed: .*unknown storage type "ftp"/);
      const { run: next } = await s.api.createFlowRun({ flowName: "agent-chain" });
      assert.equal((await s.waitFor(next.id)).state.type, "Success", "the agent kept going");
    });

    test("module storage: an agent imports nothing unless started with allowModuleStorage", async () => {
      const s = await startTestServer(dialect, { deployment: { allowModuleStorage: true } });
      servers.push(s);
      const good = await s.api.getFlow(await s.register(chain));
      const module = {
        type: "module",
        schemaVersion: 1,
        module: resolve("test/fixtures/agent/agent-flows.ts"),
        basedir: resolve("."),
        flows: { "agent-chain": "module#agent-chain" },
      };
      await s.api.registerFlow({ ...good.flow, storage: module, location: "module#agent-chain" });
      const refusing = s.agent();
      const { run } = await s.api.createFlowRun({ flowName: "agent-chain" });
      const failed = await s.waitFor(run.id);
      assert.equal(failed.state.type, "Failed");
      assert.match(
        failed.state.message ?? "",
        /deploy failed: .*module storage.*does not allow it/,
      );
      await refusing.stop();
      // A label only the allowing agent carries: the stopped agent's last long-poll may still
      // be open on the server for a moment, and this run is not the refusing agent's to take.
      s.agent({ allowModuleStorage: true, labels: ["modules-allowed"] });
      const marks = join(s.dir, "marks");
      const { run: next } = await s.api.createFlowRun({
        flowName: "agent-chain",
        parameters: { marks },
        labels: ["modules-allowed"],
      });
      const done = await s.waitFor(next.id);
      assert.equal(done.state.type, "Success", done.state.message);
      assert.deepEqual(marksOf(marks), [
        `first ${next.id}`,
        `second ${next.id}`,
        `third ${next.id}`,
      ]);
    });

    test("a run whose bundle vanished from storage: Failed, naming the location", async () => {
      const s = await serve();
      await s.register(vanishing);
      for (const dir of ["flows", "cache"])
        rmSync(join(s.dir, dir), { recursive: true, force: true });
      s.agent();
      const { run } = await s.api.createFlowRun({ flowName: "agent-vanishing" });
      const failed = await s.waitFor(run.id);
      assert.equal(failed.state.type, "Failed");
      const flow = await s.api.getFlow(run.flowId);
      assert.ok(flow.location !== undefined);
      assert.ok(
        (failed.state.message ?? "").includes(flow.location.split("#")[0]!),
        `the message names the location ${flow.location}: ${failed.state.message}`,
      );
    });

    test("cancelling a running run: the agent hears it through the heartbeat and the run ends Cancelled", async () => {
      const s = await serve();
      await s.register(slow);
      s.agent({ heartbeatIntervalMs: 200 });
      const marks = join(s.dir, "marks");
      const { run } = await s.api.createFlowRun({
        flowName: "agent-slow",
        parameters: { marks, ms: 60_000 },
      });
      await s.waitFor(run.id, ["Running"]);
      await s.api.cancelFlowRun(run.id);
      const done = await s.waitFor(run.id, ["Cancelled"], 10_000);
      assert.equal(done.state.type, "Cancelled");
      assert.deepEqual(marksOf(marks), [], "the task never finished");
    });

    test("stop(): waits for the running run, which completes; a stopped agent claims nothing", async () => {
      const s = await serve();
      await s.register(slow);
      const agent = s.agent();
      const marks = join(s.dir, "marks");
      const { run } = await s.api.createFlowRun({
        flowName: "agent-slow",
        parameters: { marks, ms: 800 },
      });
      await s.waitFor(run.id, ["Running"]);
      await agent.stop();
      assert.equal((await s.api.getFlowRun(run.id)).state.type, "Success", "stop waited for it");
      const { run: later } = await s.api.createFlowRun({
        flowName: "agent-slow",
        parameters: { ms: 1 },
      });
      await sleep(1200);
      assert.equal((await s.api.getFlowRun(later.id)).state.type, "Scheduled");
    });
  });
}

describe("agent: a server it cannot use", { concurrency: true }, () => {
  test("a wrong URL: a clear error, retries with backoff, never crashes, and stops cleanly", async () => {
    const logger = recordingLogger();
    const agent = startAgent({ api: createApiClient({ url: "http://127.0.0.1:1" }), logger });
    await sleep(1200);
    await agent.stop();
    await agent.done;
    const errors = logger.lines.filter((l) => l.level === "error");
    assert.ok(errors.length >= 2, `it retried: ${JSON.stringify(errors)}`);
    assert.ok(
      errors.length <= 6,
      `with backoff, not in a tight loop: ${errors.length} tries in 1.2 s`,
    );
    assert.match(
      errors[0]!.message,
      /cannot register: cannot reach the weft API at http:\/\/127\.0\.0\.1:1/,
    );
    assert.match(errors[0]!.message, /retrying in \d+ s/);
  });

  test("a wrong token: the server refuses it, the agent says so and keeps trying", async () => {
    const s = await startTestServer("sqlite");
    try {
      await s.server.db.tokens.create({ name: "admin", scopes: ["admin"] });
      const logger = recordingLogger();
      const agent = startAgent({
        api: createApiClient({ url: s.server.url, token: "weft_nope_nope" }),
        logger,
      });
      await sleep(700);
      await agent.stop();
      assert.equal(agent.id, undefined);
      assert.match(
        logger.lines.find((l) => l.level === "error")?.message ?? "",
        /cannot register: .*\(UNAUTHENTICATED\)/,
      );
    } finally {
      await s.close();
    }
  });
});
