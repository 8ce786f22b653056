// `--params-file F` and `--params-file -` (issue 13, item 16): parameters too
// large for a command line (over ~128 KiB a shell fails with E2BIG, exit 126)
// come from a file or stdin, for local and --remote runs; --params-json and
// --param win key by key; a bad file is one line naming it and the JSON problem.
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { type ApiClient, createApiClient } from "../../src/client/api-client.ts";
import { type RunningServer, startServer } from "../../src/server/server.ts";
import { serializedFlow } from "../server/db/store-fixtures.ts";
import { runCli } from "../support/cli.ts";
import { assertCliError, cliFixtures, parseJsonRun } from "../support/cli-result.ts";
import { reapAll, startWeft } from "../support/weft-process.ts";

const dir = mkdtempSync(join(tmpdir(), "weft-params-file-"));
after(() => {
  reapAll();
  rmSync(dir, { recursive: true, force: true });
});

const params = `${cliFixtures}/params.ts`;
/** 1 MiB: eight times what one argument of a command line may hold. */
const big = "w".repeat(1 << 20);

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe("weft run --params-file", { concurrency: true }, () => {
  test("a 1 MiB parameter from a file, locally", async () => {
    const path = file("big.json", JSON.stringify({ word: big, times: 1 }));
    const result = await runCli(["run", params, "--params-file", path, "--json"]);
    assert.equal(result.code, 0, result.stderr);
    const run = parseJsonRun(result);
    assert.equal(run.state.type, "Success");
    assert.equal((run.parameters.word as string).length, big.length);
    assert.equal(run.parameters.times, 1);
  });

  test("a 1 MiB parameter from stdin (--params-file -), through the real binary", async () => {
    const child = startWeft(["run", params, "--params-file", "-", "--json"], { stdin: "pipe" });
    child.child.stdin!.end(JSON.stringify({ word: big, times: 1 }));
    const result = await child.done;
    assert.equal(result.code, 0, result.stderr);
    const run = parseJsonRun(result);
    assert.equal(run.state.type, "Success");
    assert.equal((run.parameters.word as string).length, big.length);
  });

  test("a 1 MiB parameter reaches a subprocess run through a private file, removed after", async () => {
    const leftovers = () => readdirSync(tmpdir()).filter((n) => n.startsWith("weft-params-"));
    const before = leftovers();
    const path = file("child.json", JSON.stringify({ word: big, times: 1 }));
    const result = await runCli([
      "run",
      params,
      "--params-file",
      path,
      "--environment",
      "subprocess",
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(parseJsonRun(result).state.type, "Success", "not spawn E2BIG");
    assert.deepEqual(leftovers(), before);
  });

  test("--params-json and --param win over the file, key by key", async () => {
    const path = file("both.json", JSON.stringify({ word: "file", times: 5 }));
    const result = await runCli([
      "run",
      params,
      "--params-file",
      path,
      "--params-json",
      '{"times": 4}',
      "--param",
      "times=3",
      "--json",
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(parseJsonRun(result).parameters, { word: "file", times: 3 });
  });

  test("a file that is not there, not JSON, or not an object: one line naming it", async () => {
    const missing = join(dir, "no-such.json");
    assertCliError(await runCli(["run", params, "--params-file", missing]), {
      code: "USAGE",
      says: [`--params-file ${missing}: no such file`],
      hint: "- to read it from stdin",
    });
    const broken = file("broken.json", '{"word": "a",');
    assertCliError(await runCli(["run", params, "--params-file", broken]), {
      code: "USAGE",
      says: [`--params-file ${broken} is not valid JSON:`, /JSON/],
      hint: "one JSON object",
    });
    const list = file("list.json", "[1, 2]");
    assertCliError(await runCli(["run", params, "--params-file", list]), {
      code: "USAGE",
      says: [`--params-file ${list} must be a JSON object of parameter values, not an array`],
    });
    // The file's values are checked by the flow's parameters as --params-json's are.
    const wrong = file("wrong.json", '{"colour": "red"}');
    assertCliError(await runCli(["run", params, "--params-file", wrong]), {
      code: "UNKNOWN_PARAMETER",
      says: ["colour"],
    });
  });

  describe("with --remote", () => {
    let server: RunningServer | undefined;
    let api: ApiClient;
    after(async () => {
      await server?.close();
    });

    test("a 1 MiB parameter from a file reaches the server's run", async () => {
      server = await startServer({ db: join(dir, "weft.db"), port: 0 });
      api = createApiClient({ url: server.url });
      const flow = serializedFlow({
        parameters: [
          { name: "x", default: 1, required: false, type: "number", validated: false },
          { name: "blob", default: "", required: false, type: "string", validated: false },
        ],
      });
      await api.registerFlow(flow);
      const path = file("remote.json", JSON.stringify({ blob: big, x: 9 }));
      const result = await runCli([
        "run",
        "--remote",
        flow.name,
        "--params-file",
        path,
        "--param",
        "x=2",
        "--api",
        server.url,
      ]);
      assert.equal(result.code, 0, result.stderr);
      const run = await api.getFlowRun(result.stdout.trim());
      assert.equal((run.parameters.blob as string).length, big.length);
      assert.equal(run.parameters.x, 2);
    });
  });
});
