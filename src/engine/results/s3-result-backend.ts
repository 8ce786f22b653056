import { z } from "zod";
import { WeftError } from "../../core/errors.ts";
import {
  checkResultLocation,
  checkResultTemplate,
  DEFAULT_RESULT_TEMPLATE,
  type ResultBackend,
  type ResultBackendKind,
  type ResultContext,
  renderResultLocation,
} from "../../core/results.ts";
import { formatIssues } from "../../core/task-options.ts";
import {
  createSdkObjectClient,
  type S3ErrorProfile,
  type S3ObjectClient,
} from "../s3/s3-object-client.ts";
import {
  s3AddressingDefaults,
  s3BucketSchema,
  s3EndpointSchema,
  s3PrefixSchema,
  s3RegionSchema,
} from "../s3/s3-settings.ts";
import {
  decodeResult,
  encodeResult,
  RESULT_SERIALIZERS,
  type ResultSerializer,
} from "./result-serializers.ts";

/**
 * Options of the S3 result backend. Credentials are not options: they come
 * from the AWS SDK's default chain (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
 * AWS_PROFILE, …) wherever results are written or read, so they are never
 * serialized.
 */
export interface S3ResultBackendOptions {
  /** The bucket; it must exist. */
  bucket: string;
  /** Key prefix: a result is the object `<prefix>/<location>`; slashes at either end are dropped. @default "" (the bucket's root) */
  prefix?: string;
  /** URL of an S3-compatible store (Ceph radosgw, MinIO, …). @default AWS S3 */
  endpoint?: string;
  /** @default "us-east-1" with an endpoint; otherwise the SDK's chain (AWS_REGION, the profile) */
  region?: string;
  /** Path-style addressing (`endpoint/bucket/key`), which most non-AWS stores need. @default true with an endpoint, false without */
  forcePathStyle?: boolean;
  /** Location template. @default "{flowSlug}/{taskSlug}/{mapIndex}/{flowRunId}" (`{flowName}`, `{taskName}` are fields too) */
  template?: string;
  /** @default "json" */
  serializer?: ResultSerializer;
}

const optionsSchema = z.strictObject({
  bucket: s3BucketSchema,
  prefix: s3PrefixSchema.optional(),
  endpoint: s3EndpointSchema.optional(),
  region: s3RegionSchema.optional(),
  forcePathStyle: z.boolean().optional(),
  template: z.string().min(1).optional(),
  serializer: z.enum(RESULT_SERIALIZERS).optional(),
});

/** The JSON of an S3 result backend (never a credential: those come from where it is loaded). */
export const s3ResultBackendSchema = z.strictObject({
  type: z.literal("s3"),
  schemaVersion: z.literal(1),
  bucket: s3BucketSchema,
  prefix: s3PrefixSchema.optional(),
  endpoint: s3EndpointSchema.optional(),
  region: s3RegionSchema.optional(),
  forcePathStyle: z.boolean().optional(),
  template: z.string().min(1),
  serializer: z.enum(RESULT_SERIALIZERS),
});

/** S3 result backend options after validation and defaults: what the backend trusts. */
interface ResolvedS3ResultBackendOptions {
  readonly bucket: string;
  /** "" for the bucket's root. */
  readonly prefix: string;
  readonly endpoint: string | undefined;
  readonly region: string | undefined;
  readonly forcePathStyle: boolean;
  readonly template: string;
  readonly serializer: ResultSerializer;
}

/** What S3 failures become for results: a write that failed or a result that cannot be read. */
const RESULT_ERRORS: S3ErrorProfile = {
  putFailed: "RESULT_WRITE_FAILED",
  putUnreachable: "RESULT_WRITE_FAILED",
  getFailed: "RESULT_UNREADABLE",
  getUnreachable: "RESULT_UNREADABLE",
  getMissing: "RESULT_UNREADABLE",
  hints: {
    missing:
      "no result was written there: check the bucket, prefix and template the result was written with",
    unreachable:
      "check the result backend's endpoint and that the store is running and reachable from here",
    noBucket: "create the bucket, or name an existing one in the result backend (bucket)",
    noRegion: "choose one in the result backend (region), or set AWS_REGION where the flow runs",
  },
};

/** Results as objects `<prefix>/<location>` in a bucket of AWS S3 or any S3-compatible store. */
class S3ResultBackend implements ResultBackend {
  readonly type = "s3";
  readonly name: string;
  readonly template: string;
  readonly serializer: ResultSerializer;
  private readonly client: S3ObjectClient;

  constructor(private readonly options: ResolvedS3ResultBackendOptions) {
    this.template = options.template;
    this.serializer = options.serializer;
    checkResultTemplate(this.template);
    this.name = `s3://${options.bucket}${options.prefix === "" ? "" : `/${options.prefix}`}`;
    this.client = createSdkObjectClient({
      bucket: options.bucket,
      endpoint: options.endpoint,
      region: options.region,
      forcePathStyle: options.forcePathStyle,
      source: `s3 result backend ${this.name}`,
      errors: RESULT_ERRORS,
    });
  }

  async write(value: unknown, where: ResultContext | string): Promise<string> {
    const location = typeof where === "string" ? where : renderResultLocation(this.template, where);
    checkResultLocation(location);
    const bytes = encodeResult(value, this.serializer, `result at ${location}`);
    // One PutObject replaces the object whole: a reader never sees half a result.
    await this.client.put(this.keyOf(location), bytes);
    return location;
  }

  async read(location: string): Promise<unknown> {
    checkResultLocation(location);
    const bytes = await this.client.get(this.keyOf(location));
    return decodeResult(bytes, `the result at ${location} in ${this.name}`);
  }

  async exists(location: string): Promise<boolean> {
    checkResultLocation(location);
    return this.client.exists(this.keyOf(location));
  }

  toJSON(): { type: string; schemaVersion: number } & Record<string, unknown> {
    // Without an endpoint and a chosen region, the region stays out: it comes from where the JSON is read.
    const o = this.options;
    return {
      type: this.type,
      schemaVersion: 1,
      bucket: o.bucket,
      ...(o.prefix === "" ? {} : { prefix: o.prefix }),
      ...(o.endpoint === undefined ? {} : { endpoint: o.endpoint }),
      ...(o.region === undefined ? {} : { region: o.region }),
      forcePathStyle: o.forcePathStyle,
      template: this.template,
      serializer: this.serializer,
    };
  }

  private keyOf(location: string): string {
    return this.options.prefix === "" ? location : `${this.options.prefix}/${location}`;
  }
}

/** Applies the defaults to validated options. */
function resolveOptions(options: z.output<typeof optionsSchema>): ResolvedS3ResultBackendOptions {
  return Object.freeze({
    bucket: options.bucket,
    prefix: options.prefix ?? "",
    endpoint: options.endpoint,
    ...s3AddressingDefaults(options.endpoint, options.region, options.forcePathStyle),
    template: options.template ?? DEFAULT_RESULT_TEMPLATE,
    serializer: options.serializer ?? "json",
  });
}

/**
 * Keeps task results as objects in an S3 bucket (AWS, or any S3-compatible
 * store through `endpoint`), so that runs on any machine read each other's
 * results. Credentials come from the AWS SDK's default chain where results are
 * written and read, never from the options or the JSON.
 * @example
 * flow("etl", build, {
 *   result: createS3ResultBackend({ bucket: "results", prefix: "etl", endpoint: "http://127.0.0.1:7480" }),
 * })
 */
export function createS3ResultBackend(options: S3ResultBackendOptions): ResultBackend {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new WeftError(
      "INVALID_FLOW_OPTIONS",
      `s3 result backend: ${formatIssues(parsed.error, options, "option ")}`,
      parsed.error.issues.some((issue) => issue.code === "unrecognized_keys")
        ? {
            hint: "credentials are not options: they come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or AWS_PROFILE",
          }
        : undefined,
    );
  }
  return new S3ResultBackend(resolveOptions(parsed.data));
}

/** Rebuilds an S3 result backend from validated JSON. */
export function s3ResultBackendFromJSON(
  json: z.infer<typeof s3ResultBackendSchema>,
): ResultBackend {
  const { type: _type, schemaVersion: _version, ...options } = json;
  return new S3ResultBackend(resolveOptions(options));
}

/** The S3 result backend kind: objects in a bucket, which any machine with access reads. */
export const s3ResultBackendKind: ResultBackendKind<z.infer<typeof s3ResultBackendSchema>> = {
  type: "s3",
  schema: s3ResultBackendSchema,
  create: s3ResultBackendFromJSON,
  capabilities: { shareable: true, remote: true },
};
