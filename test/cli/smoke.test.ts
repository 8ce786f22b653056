// The real binary, once for each command that no other suite starts as a
// process: `node bin/weft.js …` loads dist/, finds the command, prints and
// exits with its code. What the commands do is tested in process (the other
// suites of test/cli); run, execute, server, token, runs, register, agent, up
// and worker have process tests of their own (signals, start-up, end to end).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { createApiClient } from "../../src/client/api-client.ts";
import { type RunningServer, startServer } from "../../src/server/server.ts";
import { serializedFlow } from "../server/db/store-fixtures.ts";
import { cliFixtures, explain } from "../support/cli-result.ts";
import { reapAll, repoRoot, runWeft } from "../support/weft-process.ts";

const dir = mkdtempSync(join(tmpdir(), "weft-smoke-"));
let server: RunningServer | undefined;
after(async () => {
  reapAll();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("the weft binary", { concurrency: true }, () => {
  test("weft --version prints package.json's version (exit 0)", async () => {
    const { version } = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
      version: string;
    };
    const result = await runWeft(["--version"]);
    assert.equal(result.code, 0, explain(result));
    assert.equal(result.stdout, `${version}\n`);
  });

  test("weft graph prints the graph (exit 0)", async () => {
    const result = await runWeft(["graph", `${cliFixtures}/params.ts`, "--format", "dot"]);
    assert.equal(result.code, 0, explain(result));
    assert.match(result.stdout, /^digraph "greet" \{\n/);
    assert.match(result.stdout, /"word" -> "repeat-1";/);
    assert.equal(result.stderr, "");
  });

  test("weft inspect prints the serialized flow (exit 0)", async () => {
    const result = await runWeft(["inspect", `${cliFixtures}/params.ts`]);
    assert.equal(result.code, 0, explain(result));
    const json = JSON.parse(result.stdout) as { name: string; parameters: { name: string }[] };
    assert.equal(json.name, "greet");
    assert.deepEqual(
      json.parameters.map((p) => p.name),
      ["word", "times"],
    );
  });

  test("weft flows ls lists a server's flows (exit 0)", async () => {
    server = await startServer({ db: join(dir, "weft.db"), port: 0 });
    const flow = serializedFlow({});
    await createApiClient({ url: server.url }).registerFlow(flow);
    const result = await runWeft(["flows", "ls", "--api", server.url, "--json"]);
    assert.equal(result.code, 0, explain(result));
    const listed = JSON.parse(result.stdout) as { items: { name: string }[] };
    assert.deepEqual(
      listed.items.map((f) => f.name),
      [flow.name],
    );
  });
});
