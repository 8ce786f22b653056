// Scenario 7 of issue 6: the server process stops (SIGKILL) for a few seconds
// while a run goes on in a separate `weft agent start`; the flow finishes while
// the server is away, its reporter retries, and once the server is back on the
// same port and database the run completes with every state recorded.
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { describeOutput, stopAll } from "../support/weft-process.ts";
import {
  delay,
  e2eFixtures,
  logMessages,
  register,
  removeTempDirs,
  startAgentProcess,
  startServerProcess,
  summarize,
  taskStates,
  tempDir,
  waitForRun,
} from "./e2e-process.ts";

after(async () => {
  await stopAll();
  removeTempDirs();
});

test("7. stopping the server for a few seconds mid-run loses no state", async () => {
  const home = tempDir("outage");
  const db = join(home, "weft.db");
  const dir = tempDir("outage-marks");
  const server = await startServerProcess({ home, db });
  const agent = await startAgentProcess({ home, api: server.url, heartbeatIntervalMs: 500 });
  const registered = await register(`${e2eFixtures}/e2e-flows.ts`, ["--flow", "e2e-gated"], {
    api: server.url,
    home,
  });
  const { run } = await server.api.createFlowRun({
    flowId: registered.flows[0]!.id,
    parameters: { dir },
  });
  await waitForRun(server.api, run.id, {
    until: (r) => taskStates(r)["second-1"] === "Success" && taskStates(r)["gate-1"] === "Running",
    what: "second done and gate running",
    processes: [server, agent],
  });

  server.kill("SIGKILL");
  const killed = await server.done;
  assert.equal(killed.signal, "SIGKILL");
  const down = Date.now();
  // The rest of the flow runs while the server is away.
  writeFileSync(join(dir, "open"), "");
  const deadline = Date.now() + 30_000;
  while (!existsSync(join(dir, "last.runs"))) {
    if (Date.now() > deadline)
      assert.fail(`the flow did not finish on the agent${describeOutput(agent)}`);
    await delay(50);
  }
  await delay(Math.max(0, 3000 - (Date.now() - down)));
  assert.ok(agent.running, `the agent survives the outage${describeOutput(agent)}`);
  assert.ok(
    agent.stderr().includes(`the server did not take run ${run.id}'s`),
    `the run's reporter retried while the server was away${describeOutput(agent)}`,
  );

  const again = await startServerProcess({ home, db, port: server.port });
  const done = await waitForRun(again.api, run.id, {
    timeoutMs: 60_000,
    processes: [again, agent],
  });
  assert.equal(done.state.type, "Success", summarize(done));
  assert.deepEqual(taskStates(done), {
    dir: "Success",
    "first-1": "Success",
    "second-1": "Success",
    "gate-1": "Success",
    "last-1": "Success",
  });
  for (const t of done.taskRuns.filter((t) => t.slug !== "dir")) {
    assert.equal(t.attempts, 1, `${t.slug} ran once: ${summarize(done)}`);
    assert.ok(
      t.endTime !== undefined && t.resultRef !== undefined,
      `${t.slug}: end and result recorded`,
    );
  }
  assert.deepEqual(
    done.history.map((s) => s.type),
    ["Scheduled", "Submitted", "Running", "Success"],
  );
  assert.equal(done.claimCount, 1, "the run was never taken from its agent");
  const logs = await logMessages(again.api, run.id);
  for (const line of ["first ran", "second ran", "gate opened", "last ran with 60"])
    assert.ok(logs.includes(line), `log "${line}" recorded: ${logs.join(" | ")}`);
  await Promise.all([agent.stop(), again.stop()]);
});
