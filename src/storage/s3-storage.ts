import { z } from "zod";
import { WeftError } from "../core/errors.ts";
import { formatIssues } from "../core/task-options.ts";
import {
  createSdkObjectClient,
  type S3ErrorProfile,
  type S3ObjectClient,
} from "../engine/s3/s3-object-client.ts";
import {
  s3BucketSchema as bucketName,
  s3EndpointSchema as endpoint,
  s3PrefixSchema as prefix,
  s3RegionSchema as region,
  s3AddressingDefaults,
} from "../engine/s3/s3-settings.ts";
import { BundleStorage, type BundleStorageOptions } from "./bundle/bundle-storage.ts";
import type { Storage } from "./storage.ts";
import { nameOption, STORAGE_NAME_FLAG, type StorageKind, stringOption } from "./storage.ts";
import { guardStorage } from "./storage-guard.ts";

/**
 * Options of S3 storage. Credentials are not options: they come from the AWS
 * SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, AWS_PROFILE, …)
 * wherever the flow is built or run, so they are never serialized.
 */
export interface S3StorageOptions extends BundleStorageOptions {
  /** The bucket; it must exist. */
  bucket: string;
  /** Key prefix under which bundles go (`<prefix>/<sha256>.mjs`); slashes at either end are dropped. @default "" (the bucket's root) */
  prefix?: string;
  /** URL of an S3-compatible store (Ceph radosgw, MinIO, …). @default AWS S3 */
  endpoint?: string;
  /** @default "us-east-1" with an endpoint; otherwise the SDK's chain (AWS_REGION, the profile) */
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`), which most non-AWS stores need. @default true with an endpoint, false without */
  forcePathStyle?: boolean;
  /** Shown to people. @default "s3://<bucket>/<prefix>" */
  name?: string;
}

const optionsSchema = z.strictObject({
  bucket: bucketName,
  prefix: prefix.optional(),
  endpoint: endpoint.optional(),
  region: region.optional(),
  forcePathStyle: z.boolean().optional(),
  name: z.string().min(1).optional(),
  cacheDir: z.string().min(1).optional(),
  external: z.array(z.string().min(1)).optional(),
  flows: z.record(z.string(), z.string()).optional(),
});

/** The JSON of an S3 storage (never a credential: those come from where it is loaded). */
export const s3StorageSchema = z.strictObject({
  type: z.literal("s3"),
  schemaVersion: z.literal(1),
  bucket: bucketName,
  prefix: prefix.optional(),
  endpoint: endpoint.optional(),
  region: region.optional(),
  forcePathStyle: z.boolean().optional(),
  name: z.string().min(1).optional(),
  external: z.array(z.string().min(1)).optional(),
  flows: z.record(z.string(), z.string()),
});

/** S3 storage options after validation and defaults: what the storage trusts. */
interface ResolvedS3StorageOptions {
  readonly bucket: string;
  /** "" for the bucket's root. */
  readonly prefix: string;
  readonly endpoint: string | undefined;
  readonly region: string | undefined;
  readonly forcePathStyle: boolean;
  /** Undefined for the default `s3://bucket/prefix`. */
  readonly name: string | undefined;
  readonly cacheDir: string | undefined;
  readonly external: readonly string[];
  readonly flows: Readonly<Record<string, string>>;
}

/** Applies the defaults to validated options (the JSON's fields are the same, minus cacheDir). */
function resolveOptions(options: z.output<typeof optionsSchema>): ResolvedS3StorageOptions {
  return Object.freeze({
    bucket: options.bucket,
    prefix: options.prefix ?? "",
    endpoint: options.endpoint,
    ...s3AddressingDefaults(options.endpoint, options.region, options.forcePathStyle),
    name: options.name,
    cacheDir: options.cacheDir,
    external: options.external ?? [],
    flows: options.flows ?? {},
  });
}

/** What S3 failures become for a storage: a failed build, a missing flow, an unreachable store. */
const STORAGE_ERRORS: S3ErrorProfile = {
  putFailed: "STORAGE_BUILD_FAILED",
  putUnreachable: "STORAGE_UNREACHABLE",
  getFailed: "STORAGE_UNREACHABLE",
  getUnreachable: "STORAGE_UNREACHABLE",
  getMissing: "STORAGE_FLOW_MISSING",
  hints: {
    missing:
      "was the flow built into this bucket and prefix? build it again (weft build / weft register)",
    unreachable:
      "check the endpoint (--endpoint) and that the store is running and reachable from here",
    noBucket: "create the bucket, or name an existing one (--bucket)",
    noRegion:
      "choose one in the storage (region, --region), or set AWS_REGION where the flow is built and where it runs",
  },
};

/** Bundles as objects `<prefix>/<sha256>.mjs` in a bucket of AWS S3 or any S3-compatible store. */
class S3Storage extends BundleStorage {
  readonly type = "s3";
  readonly remote = true;
  readonly labels: string[] = [];
  readonly name: string;
  private readonly client: S3ObjectClient;

  constructor(private readonly options: ResolvedS3StorageOptions) {
    super({
      external: [...options.external],
      flows: { ...options.flows },
      ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
    });
    const { bucket, prefix } = options;
    this.name = options.name ?? `s3://${bucket}${prefix === "" ? "" : `/${prefix}`}`;
    this.client = createSdkObjectClient({
      bucket,
      endpoint: options.endpoint,
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      source: this.describe(),
      errors: STORAGE_ERRORS,
    });
  }

  protected async upload(file: string, code: string): Promise<void> {
    await this.client.put(this.keyOf(file), code, "text/javascript; charset=utf-8");
  }

  protected async download(file: string): Promise<string> {
    return Buffer.from(await this.client.get(this.keyOf(file))).toString("utf8");
  }

  protected settings(): Record<string, unknown> {
    // Without an endpoint and a chosen region, the region stays out: it comes from where the JSON is read.
    const o = this.options;
    return {
      bucket: o.bucket,
      ...(o.prefix === "" ? {} : { prefix: o.prefix }),
      ...(o.endpoint === undefined ? {} : { endpoint: o.endpoint }),
      ...(o.region === undefined ? {} : { region: o.region }),
      forcePathStyle: o.forcePathStyle,
      ...(o.name === undefined ? {} : { name: o.name }),
      ...(this.external.length ? { external: [...this.external] } : {}),
    };
  }

  private keyOf(file: string): string {
    return this.options.prefix === "" ? file : `${this.options.prefix}/${file}`;
  }
}

/**
 * Keeps flows' bundles in an S3 bucket (AWS, or any S3-compatible store through
 * `endpoint`), so agents on any machine can load them: no labels, `remote`.
 * Credentials come from the AWS SDK's default chain where the flow is built and
 * where it runs, never from the storage's options or JSON.
 * @example
 * flow("etl", build, {
 *   storage: createS3Storage({ bucket: "flows", prefix: "etl", endpoint: "http://127.0.0.1:7480" }),
 * })
 */
export function createS3Storage(options: S3StorageOptions): Storage {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new WeftError(
      "INVALID_ARGUMENT",
      `s3 storage: ${formatIssues(parsed.error, options, "option ")}`,
    );
  }
  return guardStorage(new S3Storage(resolveOptions(parsed.data)));
}

/** Rebuilds an S3 storage from validated JSON. */
export function s3StorageFromJSON(json: z.infer<typeof s3StorageSchema>): Storage {
  const { type: _type, schemaVersion: _version, ...options } = json;
  return guardStorage(new S3Storage(resolveOptions(options)));
}

/** The S3 storage kind. */
export const s3StorageKind: StorageKind<z.infer<typeof s3StorageSchema>> = {
  type: "s3",
  schema: s3StorageSchema,
  create: s3StorageFromJSON,
  capabilities: { shareable: true, remote: true },
  flags: {
    bucket: { flag: "--bucket <name>", help: "the bucket", required: true },
    prefix: { flag: "--prefix <prefix>", help: "key prefix" },
    endpoint: { flag: "--endpoint <url>", help: "endpoint of an S3-compatible store" },
    region: { flag: "--region <region>", help: "region" },
    pathStyle: { flag: "--path-style", help: "path-style addressing (most non-AWS stores)" },
    name: STORAGE_NAME_FLAG,
  },
  fromFlags: (options) =>
    createS3Storage({
      bucket: options.bucket as string,
      ...stringOption(options, "prefix", "prefix"),
      ...stringOption(options, "endpoint", "endpoint"),
      ...stringOption(options, "region", "region"),
      ...(options.pathStyle === true ? { forcePathStyle: true } : {}),
      ...nameOption(options),
    }),
};
