// Http storage against a real node:http artifact server on 127.0.0.1 (an
// ephemeral port) that keeps PUT bodies in memory and checks Authorization.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, beforeEach, describe, test } from "node:test";
import { createHttpStorage, isWeftError, type Storage, storageFromJSON } from "weftflow";
import { createStorage } from "../../src/storage/registry.ts";
import { httpEtl } from "../fixtures/storage/http-flow.ts";
import { httpEtl as httpEtlV2 } from "../fixtures/storage/http-flow-v2.ts";
import { runStorageConformance } from "./storage.case.ts";

/** A minimal artifact server: PUT stores, GET returns, everything under /flows/. */
class ArtifactServer {
  readonly objects = new Map<string, Buffer>();
  readonly requests: { method: string; path: string; authorized: boolean }[] = [];
  /** The Authorization value required; undefined lets everyone in. */
  auth: string | undefined;
  /** Answers to give first (e.g. 503s), one per request. */
  failures: number[] = [];
  private server: Server | undefined;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as { port: number };
    this.url = `http://127.0.0.1:${port}/flows`;
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.server?.closeAllConnections();
      this.server?.close(() => resolve());
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      const authorized = this.auth === undefined || req.headers.authorization === this.auth;
      this.requests.push({ method: req.method ?? "", path, authorized });
      const failure = this.failures.shift();
      if (failure !== undefined) return void res.writeHead(failure).end();
      if (!authorized) return void res.writeHead(401, { "www-authenticate": "Bearer" }).end();
      if (!path.startsWith("/flows/")) return void res.writeHead(404).end();
      if (req.method === "PUT") {
        this.objects.set(path, Buffer.concat(chunks));
        return void res.writeHead(201).end();
      }
      const body = this.objects.get(path);
      if (req.method !== "GET" || body === undefined) return void res.writeHead(404).end();
      res.writeHead(200, { "content-type": "text/javascript" }).end(body);
    });
  }
}

async function rejectsWith(promise: Promise<unknown>, code: string, ...parts: string[]) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isWeftError(error), `expected a WeftError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const part of parts)
      assert.ok(error.message.includes(part), `"${part}" in: ${error.message}`);
    return true;
  });
}

/** Waits for a child to exit (killing it by pid after `ms`), with what it printed. */
function finish(child: ChildProcess, ms = 60_000) {
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d));
  child.stderr?.on("data", (d: Buffer) => (out += d));
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

async function runOut(storage: Storage, location: string) {
  const run = await (await storage.getRunner(location)).run({ parameters: { who: "ada" } });
  assert.equal(run.state.type, "Success", run.state.message);
  return run.result<string>("shout-1");
}

const server = new ArtifactServer();
// One variable name and secret per test process (unique, never shared state).
const AUTH_VAR = `WEFT_TEST_HTTP_AUTH_${randomUUID().replaceAll("-", "").slice(0, 8).toUpperCase()}`;
const SECRET = `Bearer tok-${randomUUID()}`;
process.env[AUTH_VAR] = SECRET;
let root: string;
const cache = () => join(root, `cache-${randomUUID()}`);

before(async () => {
  root = mkdtempSync(join(tmpdir(), "weft-http-"));
  // Whatever falls back to $WEFT_HOME (a storage rebuilt from JSON) stays in here, never in ~/.weft.
  process.env.WEFT_HOME = join(root, "home");
  await server.start();
});
after(async () => {
  await server.stop();
  rmSync(root, { recursive: true, force: true });
});
beforeEach(() => {
  server.auth = SECRET;
  server.failures = [];
  process.env[AUTH_VAR] = SECRET;
});

describe("http storage", () => {
  test("build PUTs the bundle with the Authorization header; getRunner GETs, verifies and runs it", async () => {
    const storage = createHttpStorage({
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      cacheDir: cache(),
    });
    const location = storage.addFlow(httpEtl);
    assert.match(location, /^[0-9a-f]{64}\.mjs#http-etl$/);
    await storage.build();
    const file = location.split("#")[0]!;
    assert.ok(server.objects.has(`/flows/${file}`));
    assert.ok(server.requests.every((r) => r.authorized));

    // Another process's view: the JSON and an empty cache, so the bundle is downloaded.
    const json = storage.toJSON();
    const loaded = createHttpStorage({
      url: json.url as string,
      authHeader: json.authHeader as string,
      flows: json.flows as Record<string, string>,
      cacheDir: cache(),
    });
    const gets = server.requests.filter((r) => r.method === "GET").length;
    assert.equal(await runOut(loaded, location), "V1 HELLO ADA FROM HTTP-ETL");
    assert.equal(server.requests.filter((r) => r.method === "GET").length, gets + 1);
    assert.deepEqual(storage.labels, []);
    assert.equal(storage.remote, true);
    assert.equal(storage.shareable, true);
  });

  test("the location is the content hash: the same for the same code, another for other code", async () => {
    const a = createHttpStorage({
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      cacheDir: cache(),
    });
    const b = createHttpStorage({
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      cacheDir: cache(),
    });
    const first = a.addFlow(httpEtl);
    assert.equal(b.addFlow(httpEtl), first);
    const c = createHttpStorage({
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      cacheDir: cache(),
    });
    const changed = c.addFlow(httpEtlV2);
    assert.notEqual(changed, first);
    await a.build();
    await c.build();
    const fresh = createHttpStorage({
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      cacheDir: cache(),
    });
    assert.equal(await runOut(fresh, first), "V1 HELLO ADA FROM HTTP-ETL");
    assert.equal(await runOut(fresh, changed), "V2 GOODBYE ADA FROM HTTP-ETL");
  });

  test("getEnvRunner runs `weft execute` in a child; the secret is in neither the JSON nor the output", async () => {
    const storage = createHttpStorage({
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      cacheDir: cache(),
    });
    const location = storage.addFlow(httpEtl);
    await storage.build();
    const runner = storageFromJSON(storage.toJSON()).getEnvRunner(location);
    assert.ok(!JSON.stringify(storage.toJSON()).includes(SECRET));
    assert.ok(!JSON.stringify(runner.env).includes(SECRET));
    const gets = server.requests.filter((r) => r.method === "GET").length;
    const ok = await finish(
      runner.start({
        env: { WEFT_HOME: join(root, `home-${randomUUID()}`), WEFT_PARAMETERS: '{"who":"child"}' },
      }),
    );
    assert.equal(ok.code, 0, ok.out);
    assert.ok(!ok.out.includes(SECRET), "the secret leaked into the child's output");
    assert.equal(server.requests.filter((r) => r.method === "GET").length, gets + 1);

    // Without the variable the child fails, naming it (and still not leaking anything).
    const missing = await finish(
      runner.start({ env: { WEFT_HOME: join(root, `home-${randomUUID()}`), [AUTH_VAR]: "" } }),
    );
    assert.equal(missing.code, 1, missing.out);
    assert.match(missing.out, new RegExp(`${AUTH_VAR}.*not set.*ENV_VAR_INVALID`));
    assert.ok(!missing.out.includes(SECRET));
  });

  test("a missing auth variable or a server that wants auth gives a clear error", async () => {
    delete process.env[AUTH_VAR];
    const storage = createHttpStorage({
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      cacheDir: cache(),
    });
    storage.addFlow(httpEtl);
    const before = server.requests.length;
    await rejectsWith(storage.build(), "ENV_VAR_INVALID", AUTH_VAR, "not set");
    assert.equal(server.requests.length, before, "no request is made without the credential");

    // No authHeader at all: the server answers 401, and the error says what to do.
    const anonymous = createHttpStorage({ url: server.url, cacheDir: cache() });
    const location = anonymous.addFlow(httpEtl);
    await assert.rejects(anonymous.build(), (e: unknown) => {
      assert.ok(isWeftError(e) && e.code === "STORAGE_BUILD_FAILED", String(e));
      assert.match(
        e.message,
        /PUT http:\/\/127\.0\.0\.1:\d+\/flows\/[0-9a-f]{64}\.mjs answered 401/,
      );
      assert.match(e.hint ?? "", /authHeader/);
      return true;
    });
    const reader = createHttpStorage({ url: server.url, cacheDir: cache(), flows: {} });
    await assert.rejects(reader.getRunner(location), (e: unknown) => {
      assert.ok(isWeftError(e) && e.code === "STORAGE_UNREACHABLE", String(e));
      assert.match(
        e.message,
        /GET http:\/\/127\.0\.0\.1:\d+\/flows\/[0-9a-f]{64}\.mjs answered 401/,
      );
      assert.match(e.hint ?? "", /authHeader/);
      return true;
    });
  });

  test("a tampered artifact on the server is refused with STORAGE_HASH_MISMATCH", async () => {
    const storage = createHttpStorage({
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      cacheDir: cache(),
    });
    const location = storage.addFlow(httpEtl);
    await storage.build();
    const key = `/flows/${location.split("#")[0]}`;
    const original = server.objects.get(key)!;
    server.objects.set(key, Buffer.from(`${original.toString()}\nconsole.log("pwned");\n`));
    const victim = createHttpStorage({
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      cacheDir: cache(),
    });
    await rejectsWith(victim.getRunner(location), "STORAGE_HASH_MISMATCH", location.split("#")[0]!);
    server.objects.set(key, original);
  });

  test("a bundle that was never uploaded is STORAGE_FLOW_MISSING", async () => {
    const storage = createHttpStorage({
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      cacheDir: cache(),
    });
    await rejectsWith(
      storage.getRunner(`${"0".repeat(64)}.mjs#http-etl`),
      "STORAGE_FLOW_MISSING",
      "404",
    );
  });

  test("5xx answers are retried (at most twice)", async () => {
    const storage = createHttpStorage({
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      cacheDir: cache(),
    });
    storage.addFlow(httpEtl);
    server.failures = [503, 502];
    const before = server.requests.length;
    await storage.build();
    assert.equal(server.requests.length - before, 3);
    server.failures = [503, 503, 503];
    const again = createHttpStorage({
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      cacheDir: cache(),
    });
    again.addFlow(httpEtl);
    await rejectsWith(again.build(), "STORAGE_UNREACHABLE", "PUT", "3 attempts", "503");
  });

  test("an unreachable server fails with STORAGE_UNREACHABLE in bounded time", async () => {
    const closed = await freePort();
    const url = `http://127.0.0.1:${closed}/flows`;
    const refused = createHttpStorage({ url, cacheDir: cache() });
    refused.addFlow(httpEtl);
    await rejectsWith(refused.build(), "STORAGE_UNREACHABLE", url, "ECONNREFUSED");

    const silent = await blackHole();
    try {
      const quiet = `http://127.0.0.1:${silent.port}/flows`;
      const storage = createHttpStorage({ url: quiet, cacheDir: cache(), timeoutMs: 300 });
      const started = Date.now();
      await rejectsWith(
        storage.getRunner(`${"a".repeat(64)}.mjs#http-etl`),
        "STORAGE_UNREACHABLE",
        quiet,
        "no answer within 300 ms",
      );
      const took = Date.now() - started;
      assert.ok(took >= 900 && took < 5_000, `took ${took} ms`);
    } finally {
      await silent.close();
    }
  });

  test("toJSON → storageFromJSON round-trips; credentials are refused, never echoed", () => {
    const storage = createHttpStorage({
      url: `${server.url}/`,
      authHeader: `env:${AUTH_VAR}`,
      name: "artifacts",
      timeoutMs: 5_000,
      flows: { "http-etl": `${"b".repeat(64)}.mjs#http-etl` },
    });
    const json = storage.toJSON();
    assert.deepEqual(json, {
      type: "http",
      schemaVersion: 1,
      name: "artifacts",
      url: server.url,
      authHeader: `env:${AUTH_VAR}`,
      timeoutMs: 5_000,
      flows: { "http-etl": `${"b".repeat(64)}.mjs#http-etl` },
    });
    assert.deepEqual(storageFromJSON(JSON.parse(JSON.stringify(json))).toJSON(), json);
    assert.deepEqual(
      storageFromJSON(createHttpStorage({ url: server.url }).toJSON()).toJSON(),
      createHttpStorage({ url: server.url }).toJSON(),
    );

    const refused = (fn: () => unknown) =>
      assert.throws(fn, (e: unknown) => {
        assert.ok(isWeftError(e) && e.code === "CREDENTIAL_IN_CONFIG", String(e));
        assert.ok(!e.message.includes("hunter2") && !(e.hint ?? "").includes("hunter2"));
        return true;
      });
    refused(() => createHttpStorage({ url: server.url, authHeader: "Bearer hunter2" }));
    refused(() => storageFromJSON({ ...json, authHeader: "Bearer hunter2" }));
    refused(() => createHttpStorage({ url: "http://bob:hunter2@127.0.0.1/flows" }));
    assert.throws(
      () => createHttpStorage({ url: `${server.url}?token=hunter2` }),
      (e: unknown) => isWeftError(e) && e.code === "INVALID_FLOW_OPTIONS",
    );
    assert.throws(
      () => storageFromJSON({ ...json, headers: {} }),
      (e: unknown) => isWeftError(e) && e.code === "INVALID_SERIALIZED",
    );
  });

  test("createStorage makes http storage from command-line options", () => {
    const storage = createStorage("http", { url: server.url, authHeader: `env:${AUTH_VAR}` });
    assert.equal(storage.type, "http");
    assert.equal(storage.toJSON().authHeader, `env:${AUTH_VAR}`);
    assert.throws(
      () => createStorage("http", {}),
      (e: unknown) => isWeftError(e) && e.code === "USAGE" && /url/.test(e.message),
    );
  });
});

// The suite every kind passes, against the same server (with its auth on).
runStorageConformance("http", ({ tmp }) =>
  createHttpStorage({
    url: server.url,
    authHeader: `env:${AUTH_VAR}`,
    cacheDir: join(tmp, "cache"),
  }),
);

/** A port nothing listens on (taken from the OS, then released). */
async function freePort(): Promise<number> {
  const probe = createTcpServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

/** A TCP server that accepts connections and never says a word. */
async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const hole = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => hole.listen(0, "127.0.0.1", resolve));
  const { port } = hole.address() as { port: number };
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        hole.close(() => resolve());
      }),
  };
}
