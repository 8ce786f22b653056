// What a new user meets when something is wrong (issue 13, item 18): every
// message is one `error: … (CODE)` line and at most one `hint:` line, never a
// stack, commander's multi-line refusal, or a page of HTML.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli } from "../support/cli.ts";
import { assertCliError, cliFixtures } from "../support/cli-result.ts";

const dir = mkdtempSync(join(tmpdir(), "weft-messages-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A flow file written for one test (syntax errors cannot live in the repository: lint parses it). */
function flowFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const BROKEN =
  'import { flow } from "weftflow";\n\nexport const broken = flow("broken", () => {\n  const a = ;\n});\n';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("weft's messages", { concurrency: true }, () => {
  test("a syntax error in a TypeScript flow file: one line naming file, line and column", async () => {
    const file = flowFile("broken.ts", BROKEN);
    const line = assertCliError(await runCli(["run", file]), {
      code: "FLOW_MODULE_SYNTAX_ERROR",
      says: [`syntax error in ${file}:4:13`],
      hint: "fix the file",
    });
    assert.doesNotMatch(line, /Transform failed/);
  });

  test("a syntax error in a JavaScript flow file: one line, and how to see the line", async () => {
    const file = flowFile("broken.mjs", BROKEN);
    assertCliError(await runCli(["run", file]), {
      code: "FLOW_MODULE_SYNTAX_ERROR",
      says: [`syntax error in ${file}`, "Unexpected token"],
      hint: `node --check ${file}`,
    });
  });

  test("an unknown option with a suggestion: commander's second line becomes the hint", async () => {
    const result = await runCli(["run", "--parm", "word=x", `${cliFixtures}/params.ts`]);
    assertCliError(result, {
      code: "USAGE",
      says: ["unknown option '--parm'"],
      hint: /^hint: did you mean --param\? \(--help/,
    });
  });

  test("a package the flow file imports is missing: the hint says npm install <name>", async () => {
    const file = flowFile(
      "missing-package.ts",
      'import pad from "@weft-test/no-such-package/sub";\nimport { flow } from "weftflow";\n\nexport const padded = flow("padded", () => pad);\n',
    );
    assertCliError(await runCli(["run", file]), {
      code: "FLOW_MODULE_IMPORT_FAILED",
      says: ["@weft-test/no-such-package/sub"],
      hint: "npm install @weft-test/no-such-package (in the flow's project)",
    });
  });

  test("weft run <a flow's name>: the hint says --remote", async () => {
    assertCliError(await runCli(["run", "inventory"]), {
      code: "FLOW_MODULE_NOT_FOUND",
      says: ["flow file not found: inventory"],
      hint: "weft run --remote inventory",
    });
  });

  test("--api without a scheme: the URL is invalid, and the hint adds http://", async () => {
    for (const argv of [
      ["flows", "ls", "--api", "127.0.0.1:4200"],
      ["run", "--remote", "etl", "--api", "127.0.0.1:4200"],
    ]) {
      assertCliError(await runCli(argv), {
        code: "API_URL_INVALID",
        says: ['"127.0.0.1:4200"', "http://"],
        hint: "--api http://127.0.0.1:4200",
      });
    }
  });

  describe("a server that is not weft at --api", () => {
    let server: Server;
    let url: string;
    before(async () => {
      server = createServer((request, response) => {
        if (request.url?.startsWith("/api/flow-runs?")) {
          // Another API's error: JSON, but not weft's shape, and laid out on several lines.
          response.writeHead(404, { "content-type": "application/json" });
          response.end(JSON.stringify({ detail: "Not Found", path: request.url }, null, 2));
          return;
        }
        response.writeHead(200, { "content-type": "text/html; charset=utf-8" });
        response.end(
          `<!doctype html>\n<html>\n<body>\n${"<p>a web page</p>\n".repeat(50)}</body>\n</html>\n`,
        );
      });
      url = await listen(server);
    });
    after(() => new Promise<void>((resolve) => server.close(() => resolve())));

    test("is one line, not its HTML", async () => {
      for (const argv of [
        ["flows", "ls"],
        ["runs", "inspect", "0b3c1f5e-0000-4000-8000-000000000000"],
      ]) {
        const line = assertCliError(await runCli([...argv, "--api", url]), {
          exit: 2,
          code: "API_ERROR",
          says: [url, "does not answer as a weft API", "text/html"],
          hint: "a weft server?",
        });
        assert.doesNotMatch(line, /<html|doctype/i);
      }
    });

    test("another API's JSON error is one line too", async () => {
      assertCliError(await runCli(["runs", "ls", "--api", url]), {
        code: "API_ERROR",
        says: ["answered 404", '"detail": "Not Found"'],
        hint: "a weft server?",
      });
    });
  });

  test("a server that is not there: the hint names weft up too", async () => {
    const probe = createServer();
    const url = await listen(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    assertCliError(await runCli(["flows", "ls", "--api", url]), {
      code: "API_UNREACHABLE",
      says: [url],
      hint: /`weft up` or `weft server start`/,
    });
  });
});
