import type { S3Client } from "@aws-sdk/client-s3";
import { type ErrorCode, WeftError } from "../../core/errors.ts";

/**
 * The part of an S3 client that weft needs: put, get and test one object.
 * Keeping it this narrow keeps the AWS SDK at the edge (only this file
 * touches it) and lets another S3 library stand in. It lives in the engine
 * because both result backends (engine) and S3 storage (storage) use it.
 * Failures are WeftErrors that name the endpoint, bucket and key, with the
 * codes of the caller's {@link S3ErrorProfile}.
 */
export interface S3ObjectClient {
  /** Stores `body` (bytes, or a string as UTF-8) under `key`, replacing what was there. */
  put(key: string, body: Uint8Array | string, contentType?: string): Promise<void>;
  /** The bytes of the object under `key`. */
  get(key: string): Promise<Uint8Array>;
  /** Whether an object is under `key` (HeadObject; not found is false, any other failure throws). */
  exists(key: string): Promise<boolean>;
}

/**
 * What a client's failures become. Storage and result backends speak their
 * own codes (STORAGE_UNREACHABLE, RESULT_UNREADABLE…) and give their own fix.
 */
export interface S3ErrorProfile {
  /** A put refused by the store, or one that could not start (no credentials, no region). */
  readonly putFailed: ErrorCode;
  /** A put that got no HTTP answer at all (refused connection, timeout, unknown host). */
  readonly putUnreachable: ErrorCode;
  /** A get or head refused by the store, or one that could not start. */
  readonly getFailed: ErrorCode;
  /** A get or head that got no HTTP answer at all. */
  readonly getUnreachable: ErrorCode;
  /** A get of a key, or from a bucket, that is not there. */
  readonly getMissing: ErrorCode;
  readonly hints: {
    /** What to do when a key is not there. */
    readonly missing: string;
    /** What to do when the store does not answer. */
    readonly unreachable: string;
    /** What to do when the bucket does not exist. */
    readonly noBucket: string;
    /** What to do when no region is known. */
    readonly noRegion: string;
  };
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
  /** The codes and hints of failures. */
  readonly errors: S3ErrorProfile;
}

/** Give up connecting after this long (an unreachable store must fail fast, not hang a run). */
const CONNECTION_TIMEOUT_MS = 3_000;
/** A socket that stays silent this long is dropped (a store that accepts but never answers). */
const SOCKET_IDLE_TIMEOUT_MS = 5_000;
/** One request may take this long in all, even while bytes trickle in. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Attempts per operation, first one included (connection failures are retried by the SDK). */
const MAX_ATTEMPTS = 3;

type Op = "put" | "get" | "head";

/**
 * An {@link S3ObjectClient} over `@aws-sdk/client-s3`. The SDK (≈0.7 s to
 * import) is loaded on first use, so processes that never touch the store
 * (a bundle found in the cache, a run without persisted results) never pay
 * for it. Credentials come only from the SDK's default provider chain
 * (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, …): they are never
 * options, so they can never be serialized.
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
    async put(key, body, contentType) {
      try {
        const { client, module } = await connect();
        await client.send(
          new module.PutObjectCommand({
            Bucket: settings.bucket,
            Key: key,
            Body: body,
            ContentType:
              contentType ??
              (typeof body === "string" ? "text/plain; charset=utf-8" : "application/octet-stream"),
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
            settings.errors.getMissing,
            `${settings.source}: object ${key} in bucket ${settings.bucket} has no body`,
          );
        }
        return await response.Body.transformToByteArray();
      } catch (error) {
        throw translate(error, "get", key, settings);
      }
    },
    async exists(key) {
      try {
        const { client, module } = await connect();
        await client.send(new module.HeadObjectCommand({ Bucket: settings.bucket, Key: key }));
        return true;
      } catch (error) {
        // A HEAD answer has no body, so a missing bucket is a 404 too: nothing is there either way.
        if ((error as SdkErrorShape | null)?.$metadata?.httpStatusCode === 404) return false;
        throw translate(error, "head", key, settings);
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
  "Forbidden",
]);
const CREDENTIAL_HINT =
  "credentials come from the AWS SDK's default chain: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) wherever weft reads or writes the store";

const VERB: Record<Op, string> = { put: "uploading", get: "downloading", head: "looking up" };

/** Turns an SDK failure into a WeftError that says which store, bucket and key, and what to do. */
function translate(
  error: unknown,
  op: Op,
  key: string,
  settings: S3ObjectClientSettings,
): WeftError {
  if (error instanceof WeftError) return error;
  const { errors, source } = settings;
  const e = (typeof error === "object" && error !== null ? error : {}) as SdkErrorShape;
  const where = `bucket ${settings.bucket} at ${describeEndpoint(settings)}`;
  // Some stores send an error code with no message, which the SDK reports as "UnknownError".
  const what =
    e.message && e.message !== "UnknownError"
      ? `${e.name ?? "Error"}: ${e.message}`
      : (e.name ?? String(error));
  const failedCode = op === "put" ? errors.putFailed : errors.getFailed;

  if (e.name === "CredentialsProviderError") {
    return new WeftError(failedCode, `${source}: no AWS credentials for ${key} in ${where}`, {
      cause: error,
      hint: CREDENTIAL_HINT,
    });
  }
  if (e.message === "Region is missing") {
    return new WeftError(failedCode, `${source}: no region for ${key} in ${where}`, {
      cause: error,
      hint: errors.hints.noRegion,
    });
  }
  if (e.$metadata?.httpStatusCode === undefined) {
    // No HTTP answer at all: refused, timed out, unresolvable host, TLS failure.
    const attempts = e.$metadata?.attempts;
    return new WeftError(
      op === "put" ? errors.putUnreachable : errors.getUnreachable,
      `${source}: cannot reach ${where} for ${key}${attempts ? ` (${attempts} attempts)` : ""}: ${e.message ?? String(error)}`,
      { cause: error, hint: errors.hints.unreachable },
    );
  }
  if (e.name === "NoSuchBucket") {
    return new WeftError(
      op === "put" ? errors.putFailed : errors.getMissing,
      `${source}: bucket ${settings.bucket} does not exist at ${describeEndpoint(settings)} (for ${key})`,
      { cause: error, hint: errors.hints.noBucket },
    );
  }
  if (op !== "put" && (e.name === "NoSuchKey" || e.$metadata.httpStatusCode === 404)) {
    return new WeftError(
      errors.getMissing,
      `${source}: object ${key} is not in ${where} (${what})`,
      {
        cause: error,
        hint: errors.hints.missing,
      },
    );
  }
  return new WeftError(
    failedCode,
    `${source}: ${VERB[op]} ${key} was refused by ${where}: ${what}`,
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
