// A real S3-protocol server on loopback for the S3 storage tests (never a mocked
// client): the store named by WEFT_TEST_S3_ENDPOINT when set (CI starts Ceph
// radosgw, see .ci/ceph-rgw.sh), otherwise s3rver in this process.
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateBucketCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import S3rver from "s3rver";

/** A running S3 server and a client to arrange its contents (buckets, tampered objects). */
export interface S3TestServer {
  /** "s3rver" (in process) or "external" (WEFT_TEST_S3_ENDPOINT). */
  readonly kind: "s3rver" | "external";
  readonly endpoint: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Creates a bucket with a unique name starting with `label`, and returns the name. */
  createBucket(label: string): Promise<string>;
  /** Writes `body` under `key`, bypassing weft (to tamper with what it stored). */
  putObject(bucket: string, key: string, body: string | Uint8Array): Promise<void>;
  /** Whether `key` is in `bucket`. */
  hasObject(bucket: string, key: string): Promise<boolean>;
  /** Stops the in-process server and removes its files (nothing for an external one). */
  close(): Promise<void>;
}

/** Starts s3rver, or connects to WEFT_TEST_S3_ENDPOINT. */
export async function startS3TestServer(): Promise<S3TestServer> {
  // The SDK warns once per process that its 2027 releases need Node 22; not news in a test log.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  const external = process.env.WEFT_TEST_S3_ENDPOINT;
  let endpoint: string;
  let accessKeyId: string;
  let secretAccessKey: string;
  let stop: () => Promise<void>;
  if (external !== undefined && external !== "") {
    endpoint = external;
    accessKeyId = process.env.WEFT_TEST_S3_ACCESS_KEY || "TESTAK";
    secretAccessKey = process.env.WEFT_TEST_S3_SECRET_KEY || "TESTSK";
    stop = async () => {};
  } else {
    const directory = mkdtempSync(join(tmpdir(), "weft-s3rver-"));
    const server = new S3rver({ port: 0, address: "127.0.0.1", silent: true, directory });
    const { port } = await server.run();
    endpoint = `http://127.0.0.1:${port}`;
    // s3rver knows one access key (S3RVER) and does not check SigV4 signatures, so
    // the secret can be anything: a random one makes "never printed" checks meaningful.
    accessKeyId = "S3RVER";
    secretAccessKey = `weft-test-secret-${randomUUID()}`;
    stop = async () => {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    };
  }
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    credentials: { accessKeyId, secretAccessKey },
    maxAttempts: 2,
  });
  return {
    kind: external ? "external" : "s3rver",
    endpoint,
    accessKeyId,
    secretAccessKey,
    async createBucket(label) {
      const bucket = `${label}-${randomUUID()}`.toLowerCase().slice(0, 63);
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      return bucket;
    },
    async putObject(bucket, key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
    },
    async hasObject(bucket, key) {
      try {
        await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        return true;
      } catch (error) {
        if (
          (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404
        )
          return false;
        throw error;
      }
    },
    async close() {
      client.destroy();
      await stop();
    },
  };
}
