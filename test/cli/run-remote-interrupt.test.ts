// Issue 13, item 15: Ctrl-C on `weft run --remote --wait` used to print
// "cancelling the run" and leave the run running. Now the first Ctrl-C cancels
// the run through the API and follows it to its end (exit 130, as a cancelled
// run exits); a second one stops following at once and says the server goes
// on cancelling it. A real server and agent in this process; the command as a
// child process, since signals and the exit code are the point.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { startTestServer, type TestServer } from "../agent/agent-server.ts";
import { slow } from "../fixtures/agent/agent-flows.ts";
import { explain } from "../support/cli-result.ts";
import { reapAll, startWeft } from "../support/weft-process.ts";

describe("weft run --remote --wait: Ctrl-C", { concurrency: true }, () => {
  const servers: TestServer[] = [];
  after(async () => {
    reapAll();
    await Promise.all(servers.map((s) => s.close()));
  });

  async function runningRemote(heartbeatIntervalMs: number) {
    const s = await startTestServer("sqlite");
    servers.push(s);
    await s.register(slow);
    s.agent({ heartbeatIntervalMs });
    const child = startWeft([
      "run",
      "--remote",
      "agent-slow",
      "--wait",
      "--param",
      "ms=120000",
      "--api",
      s.server.url,
    ]);
    const [, id] = await child.waitFor(/created flow run (\S+)/, { stream: "stderr" });
    await child.waitFor(/ Running\n/, { stream: "stderr" });
    return { s, child, id: id! };
  }

  test("the first Ctrl-C cancels the run on the server and follows it to Cancelled (exit 130)", async () => {
    const { s, child, id } = await runningRemote(250);
    child.kill("SIGINT");
    const result = await child.done;
    assert.equal(result.code, 130, explain(result));
    assert.match(result.stderr, new RegExp(`interrupted: cancelling run ${id} on the server`));
    assert.match(result.stderr, / Cancelled/, "the final state is printed");
    assert.match(result.stdout, /^nap-1\s+Cancelled/m, "with the task table");
    assert.doesNotMatch(result.stderr, /stopped following/);
    assert.equal((await s.api.getFlowRun(id)).state.type, "Cancelled");
  });

  test("a second Ctrl-C stops following at once; the server goes on cancelling the run", async () => {
    // Heartbeats 5 s apart: the run stays Cancelling a while after the first Ctrl-C.
    const { s, child, id } = await runningRemote(5000);
    child.kill("SIGINT");
    await child.waitFor(/Cancelling/, { stream: "stderr" });
    child.kill("SIGINT");
    const result = await child.done;
    assert.equal(result.code, 130, explain(result));
    assert.match(
      result.stderr,
      new RegExp(`stopped following run ${id}; the server goes on cancelling it`),
    );
    const run = await s.waitFor(id, ["Cancelled"], 60_000);
    assert.equal(run.state.type, "Cancelled");
  });
});
