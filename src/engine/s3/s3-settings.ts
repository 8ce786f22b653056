import { z } from "zod";

// The fields every S3-backed object of weft (flow storage, result backend)
// validates the same way, and the defaults they share.

/**
 * A bucket name: 3–63 characters. The AWS rules are stricter, but other stores
 * accept legacy names with capitals and underscores. A slash means a prefix
 * was put in the name.
 */
export const s3BucketSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$/,
    "a bucket name is 3–63 letters, digits, dots, hyphens or underscores (put a path in prefix)",
  );

/** A key prefix; slashes at either end are dropped, so "" is the bucket's root. */
export const s3PrefixSchema = z
  .string()
  .transform((p) => p.replace(/^\/+|\/+$/g, ""))
  .refine(
    (p) => p === "" || p.split("/").every((s) => s !== "" && s !== "." && s !== ".."),
    "a prefix has no empty, . or .. segments",
  )
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  .refine((p) => !/[\u0000-\u001f\u007f\\]/.test(p), "a prefix has no control characters or \\");

/** The URL of an S3-compatible store, without credentials, query or trailing slash. */
export const s3EndpointSchema = z
  .url({ protocol: /^https?$/, error: "an endpoint is an http:// or https:// URL" })
  .refine(
    (u) => {
      const url = URL.canParse(u) ? new URL(u) : undefined;
      return url === undefined || (url.username === "" && url.password === "");
    },
    {
      // Reported below the value, so that error messages never echo the password.
      path: ["credentials"],
      message:
        "an endpoint URL carries no user or password: credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY",
    },
  )
  .refine((u) => {
    const url = URL.canParse(u) ? new URL(u) : undefined;
    return url === undefined || (url.search === "" && url.hash === "");
  }, "an endpoint has no query or fragment")
  .transform((u) => u.replace(/\/+$/, ""));

/** An AWS-style region name. */
export const s3RegionSchema = z.string().regex(/^[a-z0-9-]{1,64}$/, "a region is like us-east-1");

/**
 * The region and addressing style when they were not chosen: with an endpoint
 * (an S3-compatible store) "us-east-1" and path style, which such stores need;
 * without one (AWS itself) the SDK's chain picks the region, and virtual hosts.
 */
export function s3AddressingDefaults(
  endpoint: string | undefined,
  region: string | undefined,
  forcePathStyle: boolean | undefined,
): { region: string | undefined; forcePathStyle: boolean } {
  return {
    region: region ?? (endpoint === undefined ? undefined : "us-east-1"),
    forcePathStyle: forcePathStyle ?? endpoint !== undefined,
  };
}
