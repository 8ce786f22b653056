// A client whose event loop was blocked for longer than Node's default keep-alive (5 s)
// still reaches a real `weft server start` on its kept-alive connection: the server keeps
// idle connections 30 s (KEEP_ALIVE_MS), so it has not closed the connection the client
// reuses. With the default, the second request went out on a socket the server had
// closed and failed with API_UNREACHABLE ("other side closed"), as a busy agent did.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { KEEP_ALIVE_MS } from "../../src/server/server.ts";
import { startServerProcess, stopAll } from "./e2e-process.ts";

const home = mkdtempSync(join(tmpdir(), "weft-idle-connection-"));
after(async () => {
  await stopAll();
  rmSync(home, { recursive: true, force: true });
});

/** Blocks this thread (timers, sockets, everything) for `ms`. */
function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

test("a request after the client's event loop was blocked 6 s reuses a connection the server kept", async () => {
  const server = await startServerProcess({ home, db: join(home, "weft.db") });
  const first = await fetch(`${server.url}/api/health`);
  assert.equal(first.headers.get("keep-alive"), `timeout=${KEEP_ALIVE_MS / 1000}`);
  await first.text();
  await server.api.listFlows({});
  blockFor(6000);
  const page = await server.api.listFlows({});
  assert.deepEqual(page.items, []);
});
