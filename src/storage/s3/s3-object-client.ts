import type { S3Client } from "@aws-sdk/client-s3";
import { WeftError } from "../../core/errors.ts";

/**
 * The part of an S3 client that S3 storage needs: put and get one object.
 * Keeping it this narrow keeps the AWS SDK at the edge (only this file
 * touches it) and lets another S3 library stand in without changing storage.
 * Failures are WeftErrors that name the endpoint, bucket and key.
 */
export interface S3ObjectClient {
  /** Stores `body` (UTF-8 text) under `key`, replacing what was there. */
  put(key: string, body: string): Promise<void>;
  /** The object under `key` as UTF-8 text. */
  get(key: string): Promise<string>;
}

/** Where the objects are and how to address them; credentials are not here (see below). */
export interface S3ObjectClientSettings {
  readonly bucket: string;
  /** Undefined means AWS itself. */
  readonly endpoint: string | undefined;
  /** Undefined means the SDK's default chain (AWS_REGION, the profile). */
  readonly region: string | undefined;
  readonly forcePathStyle: boolean;
  /** Prefixes every message, e.g. "s3 storage s3://flows/etl". */
  readonly source: string;
}

/** Give up connecting after this long (an unreachable store must fail fast, not hang a run). */
const CONNECTION_TIMEOUT_MS = 3_000;
/** A socket that stays silent this long is dropped (a store that accepts but never answers). */
const SOCKET_IDLE_TIMEOUT_MS = 5_000;
/** One request may take this long in all, even while bytes trickle in. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Attempts per operation, first one included (connection failures are retried by the SDK). */
const MAX_ATTEMPTS = 3;

/**
 * An {@link S3ObjectClient} over `@aws-sdk/client-s3`. The SDK (≈0.7 s to
 * import) is loaded on first use, so processes that find their bundle in the
 * cache never pay for it. Credentials come only from the SDK's default
 * provider chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, …):
 * they are never options, so they can never be serialized.
 */
export function createSdkObjectClient(settings: S3ObjectClientSettings): S3ObjectClient {
  let sdk: Promise<{ client: S3Client; module: typeof import("@aws-sdk/client-s3") }> | undefined;
  const connect = () => {
    sdk ??= import("@aws-sdk/client-s3").then((module) => ({
      module,
      client: new module.S3Client({
        ...(settings.endpoint === undefined ? {} : { endpoint: settings.endpoint }),
        ...(settings.region === undefined ? {} : { region: settings.region }),
        forcePathStyle: settings.forcePathStyle,
        // The SDK's default (a trailing checksum with aws-chunked framing) is stored
        // verbatim by some S3-compatible servers and refused by others.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        maxAttempts: MAX_ATTEMPTS,
        requestHandler: {
          connectionTimeout: CONNECTION_TIMEOUT_MS,
          socketTimeout: SOCKET_IDLE_TIMEOUT_MS,
          requestTimeout: REQUEST_TIMEOUT_MS,
          throwOnRequestTimeout: true,
        },
      }),
    }));
    return sdk;
  };
  return {
    async put(key, body) {
      try {
        const { client, module } = await connect();
        await client.send(
          new module.PutObjectCommand({
            Bucket: settings.bucket,
            Key: key,
            Body: body,
            ContentType: "text/javascript; charset=utf-8",
          }),
        );
      } catch (error) {
        throw translate(error, "put", key, settings);
      }
    },
    async get(key) {
      try {
        const { client, module } = await connect();
        const response = await client.send(
          new module.GetObjectCommand({ Bucket: settings.bucket, Key: key }),
        );
        if (response.Body === undefined) {
          throw new WeftError(
            "STORAGE_FLOW_MISSING",
            `${settings.source}: object ${key} in bucket ${settings.bucket} has no body`,
          );
        }
        return await response.Body.transformToString("utf8");
      } catch (error) {
        throw translate(error, "get", key, settings);
      }
    },
  };
}

/** What the SDK attaches to its errors (only what is read here). */
interface SdkErrorShape {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
}

const CREDENTIAL_CODES = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "ExpiredToken",
  "InvalidToken",
]);
const CREDENTIAL_HINT =
  "credentials come from the AWS SDK's default chain: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) where the flow is built and where it runs";

/** Turns an SDK failure into a WeftError that says which store, bucket and key, and what to do. */
function translate(
  error: unknown,
  op: "put" | "get",
  key: string,
  settings: S3ObjectClientSettings,
): WeftError {
  if (error instanceof WeftError) return error;
  const e = (typeof error === "object" && error !== null ? error : {}) as SdkErrorShape;
  const where = `bucket ${settings.bucket} at ${describeEndpoint(settings)}`;
  // Some stores send an error code with no message, which the SDK reports as "UnknownError".
  const what =
    e.message && e.message !== "UnknownError"
      ? `${e.name ?? "Error"}: ${e.message}`
      : (e.name ?? String(error));
  const failedCode = op === "put" ? "STORAGE_BUILD_FAILED" : "STORAGE_UNREACHABLE";

  if (e.name === "CredentialsProviderError") {
    return new WeftError(failedCode, `${settings.source}: no AWS credentials for ${where}`, {
      cause: error,
      hint: CREDENTIAL_HINT,
    });
  }
  if (e.message === "Region is missing") {
    return new WeftError(failedCode, `${settings.source}: no region for ${where}`, {
      cause: error,
      hint: "choose one in the storage (region, --region), or set AWS_REGION where the flow is built and where it runs",
    });
  }
  if (e.$metadata?.httpStatusCode === undefined) {
    // No HTTP answer at all: refused, timed out, unresolvable host, TLS failure.
    const attempts = e.$metadata?.attempts;
    return new WeftError(
      "STORAGE_UNREACHABLE",
      `${settings.source}: cannot reach ${where}${attempts ? ` (${attempts} attempts)` : ""}: ${e.message ?? String(error)}`,
      {
        cause: error,
        hint: "check the endpoint (--endpoint) and that the store is running and reachable from here",
      },
    );
  }
  if (e.name === "NoSuchBucket") {
    return new WeftError(
      op === "put" ? "STORAGE_BUILD_FAILED" : "STORAGE_FLOW_MISSING",
      `${settings.source}: bucket ${settings.bucket} does not exist at ${describeEndpoint(settings)}`,
      { cause: error, hint: `create the bucket, or name an existing one (--bucket)` },
    );
  }
  if (op === "get" && (e.name === "NoSuchKey" || e.$metadata.httpStatusCode === 404)) {
    return new WeftError(
      "STORAGE_FLOW_MISSING",
      `${settings.source}: object ${key} is not in ${where} (${what})`,
      {
        cause: error,
        hint: "was the flow built into this bucket and prefix? build it again (weft build / weft register)",
      },
    );
  }
  return new WeftError(
    failedCode,
    `${settings.source}: ${op === "put" ? "uploading" : "downloading"} ${key} was refused by ${where}: ${what}`,
    {
      cause: error,
      ...(CREDENTIAL_CODES.has(e.name ?? "") ? { hint: CREDENTIAL_HINT } : {}),
    },
  );
}

function describeEndpoint(settings: S3ObjectClientSettings): string {
  if (settings.endpoint !== undefined) return settings.endpoint;
  return `AWS S3${settings.region === undefined ? "" : ` (${settings.region})`}`;
}
