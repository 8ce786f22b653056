// S3 storage against a real S3-protocol server on loopback: Ceph radosgw when
// WEFT_TEST_S3_ENDPOINT is set (CI), otherwise s3rver in this process. Build,
// load here, `weft execute` in a child with its own cache, a tampered object,
// an unreachable endpoint, JSON round trips, and no secret in JSON or output.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createS3Storage, isWeftError, type Storage, storageFromJSON } from "weftflow";
import { createStorage } from "../../src/storage/registry.ts";
import { s3Flow } from "../fixtures/storage/s3-flow.ts";
import { type S3TestServer, startS3TestServer } from "./s3-server.ts";
import { runStorageConformance } from "./storage.case.ts";

let server: S3TestServer;
let root: string;
const unique = (label: string) => join(root, `${label}-${Math.random().toString(36).slice(2)}`);

before(async () => {
  server = await startS3TestServer();
  root = mkdtempSync(join(tmpdir(), "weft-s3-test-"));
  // Credentials reach the storage only through the SDK's default chain.
  process.env.AWS_ACCESS_KEY_ID = server.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = server.secretAccessKey;
});

after(async () => {
  await server?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

async function rejectsWith(promise: Promise<unknown>, code: string, ...parts: string[]) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isWeftError(error), `expected a WeftError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const part of parts)
      assert.ok(error.message.includes(part), `"${part}" in: ${error.message}`);
    return true;
  });
}

/** A storage in a fresh bucket and prefix, with its own cache directory. */
async function freshStorage(label: string) {
  const bucket = await server.createBucket(`weft-${label}`);
  const prefix = `flows/${label}`;
  const cacheDir = unique("cache");
  const storage = createS3Storage({ bucket, prefix, endpoint: server.endpoint, cacheDir });
  return { bucket, prefix, cacheDir, storage };
}

/** Waits for a child to exit (killing it by pid after `ms`), with what it printed. */
function finish(child: ChildProcess, ms = 60_000) {
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => (stdout += d));
  child.stderr?.on("data", (d: Buffer) => (stderr += d));
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const timer = setTimeout(() => child.pid && process.kill(child.pid, "SIGKILL"), ms);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe(`s3 storage (${process.env.WEFT_TEST_S3_ENDPOINT ? "external S3 server" : "s3rver"})`, () => {
  test("build uploads the bundle as <prefix>/<sha256>.mjs", async () => {
    const { bucket, prefix, storage } = await freshStorage("upload");
    const location = storage.addFlow(s3Flow);
    assert.match(location, /^[0-9a-f]{64}\.mjs#s3-flow$/);
    await storage.build();
    const file = location.split("#")[0]!;
    assert.ok(await server.hasObject(bucket, `${prefix}/${file}`));
    assert.equal(storage.contains("s3-flow"), true);
    assert.deepEqual(storage.labels, []);
    assert.equal(storage.remote, true);
    assert.equal(storage.shareable, true);
    assert.equal(storage.name, `s3://${bucket}/${prefix}`);
  });

  test("getRunner downloads, verifies and runs the flow in this process", async () => {
    const { bucket, prefix, storage } = await freshStorage("load");
    const location = storage.addFlow(s3Flow);
    await storage.build();
    // Another storage from the JSON, with an empty cache: it must download.
    const cacheDir = unique("cache");
    const json = storage.toJSON();
    const loaded = createS3Storage({
      bucket,
      prefix,
      endpoint: server.endpoint,
      flows: json.flows as Record<string, string>,
      cacheDir,
    });
    const runner = await loaded.getRunner(location);
    const run = await runner.run({ parameters: { n: 4 } });
    assert.equal(run.state.type, "Success", run.state.message);
    assert.deepEqual(run.outputs, "s3 says 8");
    assert.deepEqual(readdirSync(join(cacheDir, "bundles")), [location.split("#")[0]]);
  });

  test("getEnvRunner: `weft execute` in a child downloads into its own cache and succeeds", async () => {
    const { storage } = await freshStorage("child");
    const location = storage.addFlow(s3Flow);
    await storage.build();
    const home = unique("home");
    const child = storage.getEnvRunner(location).start({
      env: {
        WEFT_HOME: home,
        WEFT_PARAMETERS: JSON.stringify({ n: 5 }),
        AWS_ACCESS_KEY_ID: server.accessKeyId,
        AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
      },
    });
    const result = await finish(child);
    assert.equal(result.code, 0, result.stderr);
    const file = location.split("#")[0]!;
    assert.ok(existsSync(join(home, "cache", "bundles", file)), "the child cached the bundle");
    for (const output of [result.stdout, result.stderr]) {
      assert.ok(!output.includes(server.secretAccessKey), "the secret is never printed");
    }
  });

  test("a tampered object is refused (STORAGE_HASH_MISMATCH) and not cached", async () => {
    const { bucket, prefix, cacheDir, storage } = await freshStorage("tamper");
    const location = storage.addFlow(s3Flow);
    await storage.build();
    const file = location.split("#")[0]!;
    await server.putObject(bucket, `${prefix}/${file}`, "export const stolen = 1;\n");
    rmSync(cacheDir, { recursive: true, force: true });
    await rejectsWith(storage.getRunner(location), "STORAGE_HASH_MISMATCH", file);
    assert.equal(existsSync(join(cacheDir, "bundles", file)), false, "no cache entry is left");
    // And a fresh process's storage (from JSON) refuses it too.
    const again = storageFromJSON(storage.toJSON());
    await rejectsWith(again.getRunner(location), "STORAGE_HASH_MISMATCH", file);
  });

  test("an object that is not there is STORAGE_FLOW_MISSING naming the key", async () => {
    const { bucket, prefix } = await freshStorage("missing");
    const file = `${"0".repeat(64)}.mjs`;
    const storage = createS3Storage({
      bucket,
      prefix,
      endpoint: server.endpoint,
      cacheDir: unique("cache"),
      flows: { "s3-flow": `${file}#s3-flow` },
    });
    await rejectsWith(
      storage.getRunner(`${file}#s3-flow`),
      "STORAGE_FLOW_MISSING",
      `${prefix}/${file}`,
      bucket,
    );
  });

  test("a bucket that does not exist is named in the error, on build and on load", async () => {
    const bucket = `weft-no-such-bucket-${Math.random().toString(36).slice(2)}`;
    const storage = createS3Storage({ bucket, endpoint: server.endpoint, cacheDir: unique("c") });
    storage.addFlow(s3Flow);
    await rejectsWith(storage.build(), "STORAGE_BUILD_FAILED", `bucket ${bucket} does not exist`);
    const file = `${"1".repeat(64)}.mjs`;
    const loader = createS3Storage({ bucket, endpoint: server.endpoint, cacheDir: unique("c") });
    await rejectsWith(
      loader.getRunner(`${file}#s3-flow`),
      "STORAGE_FLOW_MISSING",
      `bucket ${bucket} does not exist`,
    );
  });

  test("an unreachable endpoint fails fast with STORAGE_UNREACHABLE naming it", async () => {
    const endpoint = "http://127.0.0.1:1";
    const bucket = "weft-unreachable";
    const storage = createS3Storage({ bucket, endpoint, cacheDir: unique("cache") });
    storage.addFlow(s3Flow);
    let started = Date.now();
    await rejectsWith(storage.build(), "STORAGE_UNREACHABLE", endpoint, bucket);
    assert.ok(Date.now() - started < 20_000, `build gave up after ${Date.now() - started} ms`);
    const file = `${"2".repeat(64)}.mjs`;
    started = Date.now();
    await rejectsWith(
      createS3Storage({ bucket, endpoint, cacheDir: unique("cache") }).getRunner(`${file}#f`),
      "STORAGE_UNREACHABLE",
      endpoint,
      bucket,
    );
    assert.ok(Date.now() - started < 20_000, `load gave up after ${Date.now() - started} ms`);
  });

  test("a store that accepts connections but never answers fails within ~20 s", async () => {
    const sockets = new Set<Socket>();
    const hole = createServer((socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => hole.listen(0, "127.0.0.1", resolve));
    const endpoint = `http://127.0.0.1:${(hole.address() as { port: number }).port}`;
    try {
      const storage = createS3Storage({ bucket: "weft-silent", endpoint, cacheDir: unique("c") });
      const started = Date.now();
      await rejectsWith(
        storage.getRunner(`${"4".repeat(64)}.mjs#f`),
        "STORAGE_UNREACHABLE",
        endpoint,
        "weft-silent",
      );
      const took = Date.now() - started;
      assert.ok(took < 20_000, `gave up after ${took} ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => hole.close(() => resolve()));
    }
  });

  test("toJSON round-trips through storageFromJSON and holds no credential", async () => {
    const { bucket, prefix, storage } = await freshStorage("json");
    const location = storage.addFlow(s3Flow);
    await storage.build();
    const json = storage.toJSON();
    assert.deepEqual(json, {
      type: "s3",
      schemaVersion: 1,
      bucket,
      prefix,
      endpoint: server.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      flows: { "s3-flow": location },
    });
    const text = JSON.stringify(json);
    assert.ok(!text.includes(server.secretAccessKey));
    const back: Storage = storageFromJSON(JSON.parse(text));
    assert.deepEqual(back.toJSON(), json);
    assert.equal(back.name, storage.name);
    assert.equal(back.contains("s3-flow"), true);
    // The storage read back loads the flow (into the default cache of a fresh WEFT_HOME).
    const previousHome = process.env.WEFT_HOME;
    process.env.WEFT_HOME = unique("home");
    try {
      const fresh = storageFromJSON(JSON.parse(text));
      const run = await (await fresh.getRunner(location)).run();
      assert.equal(run.state.type, "Success");
    } finally {
      if (previousHome === undefined) delete process.env.WEFT_HOME;
      else process.env.WEFT_HOME = previousHome;
    }
    // A chosen name, region, path style and no prefix survive the trip too.
    const other = createS3Storage({ bucket, name: "flows", region: "eu-west-3" });
    assert.deepEqual(storageFromJSON(other.toJSON()).toJSON(), {
      type: "s3",
      schemaVersion: 1,
      bucket,
      region: "eu-west-3",
      forcePathStyle: false,
      name: "flows",
      flows: {},
    });
    assert.equal(createS3Storage({ bucket }).name, `s3://${bucket}`);
  });

  test("malformed options and JSON are refused, naming the field", () => {
    assert.throws(
      () => createS3Storage({ bucket: "s3://flows/etl" }),
      (e: unknown) => isWeftError(e) && e.code === "INVALID_ARGUMENT" && /bucket/.test(e.message),
    );
    // A password in the endpoint is refused without being repeated in the message.
    const withPassword = "http://ak:pa55word@127.0.0.1:9000";
    assert.throws(
      () => createS3Storage({ bucket: "flows", endpoint: withPassword }),
      (e: unknown) => isWeftError(e) && /endpoint/.test(e.message) && !/pa55word/.test(e.message),
    );
    assert.throws(
      () =>
        storageFromJSON({
          type: "s3",
          schemaVersion: 1,
          bucket: "flows",
          endpoint: withPassword,
          flows: {},
        }),
      (e: unknown) => isWeftError(e) && /endpoint/.test(e.message) && !/pa55word/.test(e.message),
    );
    assert.throws(
      () => createS3Storage({ bucket: "flows", prefix: "a/../b" }),
      (e: unknown) => isWeftError(e) && /prefix/.test(e.message),
    );
    assert.throws(
      () =>
        storageFromJSON({
          type: "s3",
          schemaVersion: 1,
          bucket: "flows",
          flows: {},
          secretAccessKey: "x",
        }),
      (e: unknown) => isWeftError(e) && e.code === "CREDENTIAL_IN_CONFIG",
    );
    assert.throws(
      () => storageFromJSON({ type: "s3", schemaVersion: 1, bucket: "flows", flows: {}, acl: "x" }),
      (e: unknown) => isWeftError(e) && e.code === "INVALID_SERIALIZED" && /acl/.test(e.message),
    );
    assert.throws(
      () => storageFromJSON({ type: "s3", schemaVersion: 1, flows: {} }),
      (e: unknown) => isWeftError(e) && e.code === "INVALID_SERIALIZED" && /bucket/.test(e.message),
    );
  });

  test("command-line options make the same storage (--bucket --prefix --endpoint --path-style)", () => {
    const storage = createStorage("s3", {
      bucket: "flows",
      prefix: "/etl/",
      endpoint: `${server.endpoint}/`,
      region: "eu-west-1",
      pathStyle: true,
      name: "etl flows",
    });
    assert.deepEqual(storage.toJSON(), {
      type: "s3",
      schemaVersion: 1,
      bucket: "flows",
      prefix: "etl",
      endpoint: server.endpoint,
      region: "eu-west-1",
      forcePathStyle: true,
      name: "etl flows",
      flows: {},
    });
    assert.throws(() => createStorage("s3", {}), /needs bucket/);
    assert.throws(() => createStorage("s3", { bucket: "flows", dir: "/tmp" }), /no option dir/);
  });
});

// The suite every kind passes, against the same server: one bucket, a prefix per storage.
let conformanceBucket: Promise<string> | undefined;
runStorageConformance("s3", async ({ tmp }) => {
  conformanceBucket ??= server.createBucket("weft-conformance");
  return createS3Storage({
    bucket: await conformanceBucket,
    prefix: `conformance/${randomUUID()}`,
    endpoint: server.endpoint,
    cacheDir: join(tmp, "cache"),
  });
});
