// Bad input of issue 6: an agent given a wrong URL or a wrong token says so
// clearly, retries with growing delays, and neither crashes nor exits until told
// to stop (then it exits 0).
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { createApiClient } from "../../src/client/api-client.ts";
import { runCli } from "../support/cli.ts";
import { describeOutput, stopAll, type WeftProcess } from "../support/weft-process.ts";
import { removeTempDirs, startAgentProcess, startServerProcess, tempDir } from "./e2e-process.ts";

after(async () => {
  await stopAll();
  removeTempDirs();
});

/** A port nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * Waits for `count` "cannot register" lines and checks they repeat the same
 * clear reason and come further and further apart; returns the lines.
 */
async function assertRetries(agent: WeftProcess, count: number, reason: RegExp): Promise<string[]> {
  await agent.waitFor(new RegExp(`(cannot register.*\\n[^]*){${count}}`), {
    stream: "stderr",
    timeoutMs: 30_000,
  });
  const attempts = agent
    .stderr()
    .split("\n")
    .filter((l) => l.includes("cannot register"));
  for (const line of attempts) {
    assert.match(line, reason, line);
    assert.match(line, /retrying in \d+ s/, line);
  }
  const times = attempts.map((l) => Date.parse(l.split(" ")[0]!));
  const gaps = times.slice(1).map((t, i) => t - times[i]!);
  assert.ok(
    gaps[gaps.length - 1]! > 2 * gaps[0]!,
    `the delays grow (backoff): ${gaps.join(", ")} ms${describeOutput(agent)}`,
  );
  assert.ok(agent.running, `the agent keeps running${describeOutput(agent)}`);
  return attempts;
}

describe("an agent given a wrong URL or token", { concurrency: true }, () => {
  test("a wrong URL: a clear error naming the URL, retried with backoff; SIGTERM stops it with exit 0", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const agent = await startAgentProcess({
      home: tempDir("agent-url"),
      api: url,
      waitRegistered: false,
    });
    await assertRetries(
      agent,
      4,
      new RegExp(
        `cannot reach the weft API at ${url.replace(/\./g, "\\.")} .*\\(API_UNREACHABLE\\)`,
      ),
    );
    const stopped = await agent.stop();
    assert.equal(stopped.code, 0, describeOutput(agent));
    assert.doesNotMatch(stopped.stderr, /^\s+at /m, "no stack trace");
  });

  test("a wrong token: a clear error, retried with backoff, while an agent with a good token registers", async () => {
    const home = tempDir("agent-token");
    const db = join(home, "weft.db");
    // In process: creating the token only sets the scene.
    const created = await runCli(
      ["token", "create", "--name", "e2e-agent", "--scope", "agent", "--db", db, "--json"],
      { env: { WEFT_HOME: home } },
    );
    assert.equal(created.code, 0, created.stderr);
    const { secret } = JSON.parse(created.stdout) as { secret: string };
    const server = await startServerProcess({ home, db });

    const wrong = await startAgentProcess({
      home,
      api: server.url,
      token: `${secret}x`,
      name: "wrong-token",
      waitRegistered: false,
    });
    const good = await startAgentProcess({
      home,
      api: server.url,
      token: secret,
      name: "good-token",
    });
    await assertRetries(wrong, 4, /\(UNAUTHENTICATED\)/);
    const agents = await createApiClient({ url: server.url, token: secret }).listAgents();
    const names = agents.map((a) => a.name);
    assert.deepEqual(names, ["good-token"], "only the agent with a good token registered");
    const stopped = await Promise.all([wrong.stop(), good.stop()]);
    assert.deepEqual(
      stopped.map((s) => s.code),
      [0, 0],
    );
    await server.stop();
  });
});
