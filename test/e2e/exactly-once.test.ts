// Scenario 5 of issue 6: two `weft agent start` processes against one `weft
// server start`, 200 runs: every run is executed exactly once. The flow's task
// appends a line to a file named by its flow run id, so a run executed twice
// leaves two lines. On SQLite, and on PostgreSQL (a fresh schema) when
// WEFT_TEST_POSTGRES_URL is set.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { FlowRunRecord } from "../../src/serialization/api-schemas.ts";
import { createSchema, dropSchema, POSTGRES_URL, withSearchPath } from "../server/dialects.ts";
import { describeOutput, stopAll, type WeftProcess } from "../support/weft-process.ts";
import {
  delay,
  e2eFixtures,
  register,
  removeTempDirs,
  type ServerProcess,
  startAgentProcess,
  startServerProcess,
  tempDir,
} from "./e2e-process.ts";

const RUNS = 200;
const schemas: string[] = [];

after(async () => {
  await stopAll();
  for (const schema of schemas) await dropSchema(POSTGRES_URL!, schema);
  removeTempDirs();
});

/** Every run of the flow (they fit in one page of 500). */
async function runsOf(server: ServerProcess, flowId: string): Promise<FlowRunRecord[]> {
  return (await server.api.listFlowRuns({ flowId, limit: 500 })).items;
}

describe("two agents, 200 runs: each run executed exactly once", { concurrency: true }, () => {
  for (const dialect of ["sqlite", "postgres"] as const) {
    const skip =
      dialect === "postgres" && POSTGRES_URL === undefined
        ? "WEFT_TEST_POSTGRES_URL not set"
        : false;
    test(`5. ${dialect}`, { skip }, async () => {
      const home = tempDir(`once-${dialect}`);
      let db = join(home, "weft.db");
      if (dialect === "postgres") {
        const schema = await createSchema(POSTGRES_URL!);
        schemas.push(schema);
        db = withSearchPath(POSTGRES_URL!, schema);
      }
      const server = await startServerProcess({ home, db });
      const agents: WeftProcess[] = await Promise.all(
        ["a", "b"].map((name) =>
          startAgentProcess({
            home,
            api: server.url,
            name: `agent-${name}`,
            concurrency: 8,
            heartbeatIntervalMs: 1000,
          }),
        ),
      );
      const processes = [server, ...agents];
      const registered = await register(`${e2eFixtures}/e2e-flows.ts`, ["--flow", "e2e-once"], {
        api: server.url,
        home,
      });
      const flowId = registered.flows[0]!.id;
      const marks = join(home, "marks");

      for (let i = 0; i < RUNS; i += 25) {
        await Promise.all(
          Array.from({ length: Math.min(25, RUNS - i) }, () =>
            server.api.createFlowRun({ flowId, parameters: { dir: marks } }),
          ),
        );
      }
      const deadline = Date.now() + 180_000;
      let runs = await runsOf(server, flowId);
      while (runs.some((r) => r.state.type !== "Success")) {
        const counts = new Map<string, number>();
        for (const r of runs) counts.set(r.state.type, (counts.get(r.state.type) ?? 0) + 1);
        if (runs.some((r) => r.state.type === "Failed") || Date.now() > deadline) {
          assert.fail(
            `runs not all Success: ${JSON.stringify(Object.fromEntries(counts))}${processes.map(describeOutput).join("")}`,
          );
        }
        await delay(250);
        runs = await runsOf(server, flowId);
      }
      assert.equal(runs.length, RUNS);

      // Exactly once: one marker file per run, each with one line.
      assert.ok(existsSync(marks));
      const files = readdirSync(marks).sort();
      assert.deepEqual(files, runs.map((r) => r.id).sort(), "one marker file per run");
      const twice = files.filter(
        (f) => readFileSync(join(marks, f), "utf8").trim().split("\n").length !== 1,
      );
      assert.deepEqual(twice, [], "runs executed more than once");
      assert.ok(
        runs.every((r) => r.claimCount === 1 && r.rescheduleCount === 0),
        "every run was claimed once",
      );
      // Both agents took part: the claims really competed.
      const byAgent = new Map<string, number>();
      for (const r of runs) byAgent.set(r.agentId ?? "-", (byAgent.get(r.agentId ?? "-") ?? 0) + 1);
      const ids = (await server.api.listAgents()).map((a) => a.id);
      assert.equal(ids.length, 2);
      for (const id of ids) assert.ok((byAgent.get(id) ?? 0) > 0, `agent ${id} ran some runs`);
      await Promise.all(processes.map((p) => p.stop()));
    });
  }
});
