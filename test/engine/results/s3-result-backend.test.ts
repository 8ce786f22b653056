// The S3 result backend against a real S3-protocol server on loopback: Ceph
// radosgw when WEFT_TEST_S3_ENDPOINT is set (CI), otherwise s3rver in this
// process. The conformance suite (one bucket, a prefix per backend), then what
// only a remote store can do wrong: an unreachable endpoint, a missing bucket,
// and credentials, which must never reach the JSON.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createS3ResultBackend, isWeftError, resultBackendFromJSON } from "weftflow";
import type { ResultSerializer } from "../../../src/engine/results/result-serializers.ts";
import { type S3TestServer, startS3TestServer } from "../../storage/s3-server.ts";
import {
  assertNames,
  expectCode,
  resultContext,
  runResultBackendConformance,
} from "./result-backend.case.ts";

let server: S3TestServer;

before(async () => {
  server = await startS3TestServer();
  // Credentials reach the backend only through the SDK's default chain.
  process.env.AWS_ACCESS_KEY_ID = server.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = server.secretAccessKey;
});

after(async () => {
  await server?.close();
});

// One bucket for the suite; every backend gets a prefix of its own.
let conformanceBucket: Promise<string> | undefined;
runResultBackendConformance("s3", async ({ template, serializer }) => {
  conformanceBucket ??= server.createBucket("weft-results");
  const bucket = await conformanceBucket;
  const prefix = `conformance/${randomUUID()}`;
  const open = (s: ResultSerializer | undefined) =>
    createS3ResultBackend({
      bucket,
      prefix,
      endpoint: server.endpoint,
      ...(template === undefined ? {} : { template }),
      ...(s === undefined ? {} : { serializer: s }),
    });
  return {
    backend: open(serializer),
    withSerializer: open,
    overwrite: (location, bytes) => server.putObject(bucket, `${prefix}/${location}`, bytes),
    stored: (location) => server.hasObject(bucket, `${prefix}/${location}`),
  };
});

/** Runs `fn` and asserts that it took less than `ms`. */
async function within<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await fn();
  } finally {
    const took = Date.now() - started;
    assert.ok(took < ms, `${what} gave up after ${took} ms`);
  }
}

describe(`s3 result backend (${process.env.WEFT_TEST_S3_ENDPOINT ? "external S3 server" : "s3rver"})`, () => {
  test("a result is the object <prefix>/<location>; without a prefix, <location>", async () => {
    const bucket = await server.createBucket("weft-results-keys");
    const backend = createS3ResultBackend({
      bucket,
      prefix: "/results/etl/",
      endpoint: server.endpoint,
    });
    assert.equal(backend.name, `s3://${bucket}/results/etl`);
    const ctx = resultContext();
    const location = await backend.write({ n: 1 }, ctx);
    assert.ok(await server.hasObject(bucket, `results/etl/${location}`));
    const bare = createS3ResultBackend({ bucket, endpoint: server.endpoint });
    assert.equal(bare.name, `s3://${bucket}`);
    await bare.write({ n: 2 }, "top/level");
    assert.ok(await server.hasObject(bucket, "top/level"));
    // The two are separate places: neither sees the other's results.
    assert.equal(await bare.exists(location), false);
    assert.equal(await backend.exists("top/level"), false);
  });

  test("an unreachable endpoint fails fast, naming the endpoint, bucket and location", async () => {
    const endpoint = "http://127.0.0.1:1";
    const bucket = "weft-unreachable";
    const backend = createS3ResultBackend({ bucket, prefix: "p", endpoint });
    const ctx = resultContext();
    const location = `${ctx.flowName}/extract-1/-/${ctx.flowRunId}`;
    const write = await within(20_000, "write", () =>
      expectCode(() => backend.write({ n: 1 }, ctx), "RESULT_WRITE_FAILED", "write"),
    );
    assertNames(write.message, endpoint, bucket, location);
    assert.match(write.hint ?? "", /endpoint/);
    const read = await within(20_000, "read", () =>
      expectCode(() => backend.read(location), "RESULT_UNREADABLE", "read"),
    );
    assertNames(read.message, endpoint, bucket, location);
    const exists = await within(20_000, "exists", () =>
      expectCode(() => backend.exists(location), "RESULT_UNREADABLE", "exists"),
    );
    assertNames(exists.message, endpoint, bucket, location);
  });

  test("a bucket that does not exist is named: the write fails, a read finds nothing", async () => {
    const bucket = `weft-no-such-bucket-${randomUUID().slice(0, 8)}`;
    const backend = createS3ResultBackend({ bucket, endpoint: server.endpoint });
    const write = await expectCode(() => backend.write(1, "a/b"), "RESULT_WRITE_FAILED", "write");
    assertNames(write.message, `bucket ${bucket} does not exist`, "a/b", server.endpoint);
    const read = await expectCode(() => backend.read("a/b"), "RESULT_UNREADABLE", "read");
    assertNames(read.message, bucket, "a/b");
    assert.equal(await backend.exists("a/b"), false);
  });

  test("toJSON holds no credential, and a credential in the JSON or the options is refused", async () => {
    const bucket = await server.createBucket("weft-results-json");
    const backend = createS3ResultBackend({
      bucket,
      prefix: "etl",
      endpoint: `${server.endpoint}/`,
      serializer: "binary",
    });
    const json = backend.toJSON();
    assert.deepEqual(json, {
      type: "s3",
      schemaVersion: 1,
      bucket,
      prefix: "etl",
      endpoint: server.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      template: "{flowSlug}/{taskSlug}/{mapIndex}/{flowRunId}",
      serializer: "binary",
    });
    const text = JSON.stringify(json);
    assert.ok(!text.includes(server.secretAccessKey), "the secret key is not in the JSON");
    assert.ok(!text.includes(server.accessKeyId), "the access key is not in the JSON");
    // Written with the secret in the environment, read back from the JSON alone.
    const location = await backend.write(new Map([["k", 1n]]), resultContext());
    assert.deepEqual(
      await resultBackendFromJSON(JSON.parse(text)).read(location),
      new Map([["k", 1n]]),
    );
    // Without an endpoint, the region and path style come from where the JSON is read.
    assert.deepEqual(createS3ResultBackend({ bucket: "results" }).toJSON(), {
      type: "s3",
      schemaVersion: 1,
      bucket: "results",
      forcePathStyle: false,
      template: "{flowSlug}/{taskSlug}/{mapIndex}/{flowRunId}",
      serializer: "json",
    });

    for (const field of ["secretAccessKey", "accessKeyId", "sessionToken"]) {
      const error = await expectCode(
        () => resultBackendFromJSON({ ...json, [field]: server.secretAccessKey }),
        "CREDENTIAL_IN_CONFIG",
        field,
      );
      assert.ok(!error.message.includes(server.secretAccessKey), "the refusal does not echo it");
      const option = await expectCode(
        () =>
          createS3ResultBackend({
            bucket,
            ...{ [field]: server.secretAccessKey },
          } as Parameters<typeof createS3ResultBackend>[0]),
        "INVALID_FLOW_OPTIONS",
        `option ${field}`,
      );
      assert.ok(!option.message.includes(server.secretAccessKey));
      assert.match(option.hint ?? "", /AWS_SECRET_ACCESS_KEY/);
    }
    const withPassword = "http://ak:pa55word@127.0.0.1:9000";
    for (const make of [
      () => createS3ResultBackend({ bucket, endpoint: withPassword }),
      () => resultBackendFromJSON({ ...json, endpoint: withPassword }),
    ]) {
      assert.throws(make, (e: unknown) => {
        assert.ok(isWeftError(e));
        assert.match(e.message, /endpoint/);
        assert.doesNotMatch(e.message, /pa55word/);
        return true;
      });
    }
  });

  test("malformed options and JSON are refused naming the field", async () => {
    const bad: [Record<string, unknown>, string][] = [
      [{ bucket: "s3://results/etl" }, "bucket"],
      [{ bucket: "results", prefix: "a/../b" }, "prefix"],
      [{ bucket: "results", endpoint: "ftp://x" }, "endpoint"],
      [{ bucket: "results", region: "Not A Region" }, "region"],
      [{ bucket: "results", serializer: "pickle" }, "serializer"],
      [{ bucket: "results", acl: "public-read" }, "acl"],
    ];
    for (const [options, field] of bad) {
      const error = await expectCode(
        () =>
          createS3ResultBackend(options as unknown as Parameters<typeof createS3ResultBackend>[0]),
        "INVALID_FLOW_OPTIONS",
        field,
      );
      assertNames(error.message, field);
    }
    const json = createS3ResultBackend({ bucket: "results" }).toJSON();
    for (const [change, field] of [
      [{ acl: "x" }, "acl"],
      [{ bucket: undefined }, "bucket"],
      [{ serializer: "pickle" }, "serializer"],
      [{ template: undefined }, "template"],
    ] as const) {
      const error = await expectCode(
        () => resultBackendFromJSON({ ...json, ...change }),
        "INVALID_SERIALIZED",
        field,
      );
      assertNames(error.message, field);
    }
    await expectCode(
      () => resultBackendFromJSON({ ...json, template: "{flowName}/{nope}" }),
      "INVALID_FLOW_OPTIONS",
      "template",
    );
  });
});
