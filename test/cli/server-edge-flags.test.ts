// --allowed-host and --allowed-origin (and WEFT_ALLOWED_HOSTS, WEFT_ALLOWED_ORIGINS)
// reach the server's request guard: `weft up` in process, `weft server start`
// as the real binary for a refused value.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { rawRequest } from "../server/api/raw-http.ts";
import { startCli } from "../support/cli.ts";
import { assertCliError } from "../support/cli-result.ts";
import { reapAll, runWeft } from "../support/weft-process.ts";

const dirs: string[] = [];
after(() => {
  reapAll();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), "weft-edge-flags-"));
  dirs.push(dir);
  return join(dir, "weft.db");
}

/** `weft up --no-agent` in process until `use` is done, then Ctrl-C. */
async function withUp(
  args: readonly string[],
  env: Record<string, string>,
  use: (port: number) => Promise<void>,
): Promise<void> {
  const run = startCli(["up", "--no-agent", "--port", "0", "--db", tempDb(), ...args], { env });
  const match = await run.waitForStderr(/server on http:\/\/127\.0\.0\.1:(\d+) /);
  try {
    await use(Number(match[1]));
  } finally {
    run.interrupt();
    const result = await run.done;
    assert.equal(result.code, 0, result.stderr);
  }
}

describe("the request guard's flags", { concurrency: true }, () => {
  test("weft up --allowed-host / --allowed-origin: those names and that origin are served, others not", async () => {
    await withUp(
      [
        "--allowed-host",
        "weft.test",
        "--allowed-host",
        ".corp.test",
        "--allowed-origin",
        "http://ui.test:8080",
      ],
      {},
      async (port) => {
        for (const host of [`weft.test:${port}`, `a.corp.test:${port}`, `127.0.0.1:${port}`]) {
          const answer = await rawRequest(port, "GET", "/api/flows", { host });
          assert.equal(answer.status, 200, `${host}: ${answer.text}`);
        }
        const rebound = await rawRequest(port, "GET", "/api/flows", {
          host: `attacker.test:${port}`,
        });
        assert.equal(rebound.json().error.code, "HOST_NOT_ALLOWED");
        const ui = await rawRequest(port, "GET", "/api/flows", { origin: "http://ui.test:8080" });
        assert.equal(ui.status, 200, ui.text);
        assert.equal(ui.headers["access-control-allow-origin"], "http://ui.test:8080");
        const other = await rawRequest(port, "GET", "/api/flows", {
          origin: "http://ui.test:9090",
        });
        assert.equal(other.json().error.code, "ORIGIN_NOT_ALLOWED");
      },
    );
  });

  test("WEFT_ALLOWED_HOSTS and WEFT_ALLOWED_ORIGINS take comma-separated lists", async () => {
    await withUp(
      [],
      { WEFT_ALLOWED_HOSTS: "one.test, two.test", WEFT_ALLOWED_ORIGINS: "https://ui.test" },
      async (port) => {
        for (const host of [`one.test:${port}`, `two.test:${port}`]) {
          assert.equal((await rawRequest(port, "GET", "/api/flows", { host })).status, 200, host);
        }
        const ui = await rawRequest(port, "GET", "/api/flows", { origin: "https://ui.test" });
        assert.equal(ui.headers["access-control-allow-origin"], "https://ui.test");
      },
    );
  });

  test("weft server start with an allowed origin that is no origin: one line, exit 2", async () => {
    const result = await runWeft([
      "server",
      "start",
      "--db",
      tempDb(),
      "--port",
      "0",
      "--allowed-origin",
      "ui.example.com",
    ]);
    assertCliError(result, {
      code: "INVALID_ARGUMENT",
      says: ['"ui.example.com" is not an origin'],
      hint: "--allowed-origin https://",
    });
  });
});
