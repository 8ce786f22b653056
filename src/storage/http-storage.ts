import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import { WeftError } from "../core/errors.ts";
import { resolveSecretReference } from "../serialization/credentials.ts";
import { BundleStorage, type BundleStorageOptions } from "./bundle/bundle-storage.ts";
import type { Storage } from "./storage.ts";
import { nameOption, STORAGE_NAME_FLAG, type StorageKind, stringOption } from "./storage.ts";
import { guardStorage } from "./storage-guard.ts";

/** Options of http storage. */
export interface HttpStorageOptions extends BundleStorageOptions {
  /** Base URL of the artifact server: bundles are PUT to and GET from `${url}/<sha256>.mjs`. */
  url: string;
  /**
   * Where the `Authorization` header's value comes from: `env:NAME` (read from
   * the environment variable NAME each time a request is made, never stored).
   * @default no Authorization header
   */
  authHeader?: string;
  /** One request attempt is abandoned after this long (up to 2 retries follow). @default 15000 */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;
/** Retries after the first attempt, for network errors, timeouts and 408/429/5xx answers. */
const RETRIES = 2;
const BACKOFF_MS = 250;
const ENV_REFERENCE = /^env:[A-Za-z_][A-Za-z0-9_]*$/;

/** The JSON of an http storage. */
export const httpStorageSchema = z.strictObject({
  type: z.literal("http"),
  schemaVersion: z.literal(1),
  name: z.string().min(1).optional(),
  url: z.string().min(1),
  authHeader: z.string().regex(ENV_REFERENCE, "an env:NAME reference").optional(),
  timeoutMs: z.number().int().positive().optional(),
  external: z.array(z.string()).optional(),
  flows: z.record(z.string(), z.string()),
});

/** An answer that was not 2xx. */
class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly statusText: string,
  ) {
    super(`${status}${statusText ? ` ${statusText}` : ""}`);
  }
}

/**
 * Bundles on any server that stores what is PUT and returns it on GET (a
 * generic artifact store, a WebDAV directory, an object store's HTTP face).
 * Each bundle is content-addressed, so a PUT is idempotent and a GET is
 * verified against its name.
 */
class HttpStorage extends BundleStorage {
  readonly type = "http";
  readonly labels: string[] = [];
  readonly remote = true;
  readonly name: string;
  private readonly url: string;
  private readonly authHeader: string | undefined;
  private readonly timeoutMs: number | undefined;
  private readonly explicitName: string | undefined;

  constructor(options: HttpStorageOptions) {
    super(options);
    this.url = options.url.replace(/\/+$/, "");
    this.authHeader = options.authHeader;
    this.timeoutMs = options.timeoutMs;
    this.explicitName = options.name;
    this.name = options.name ?? this.url;
  }

  protected async upload(file: string, code: string): Promise<void> {
    await this.request("PUT", file, code);
  }

  protected async download(file: string): Promise<string> {
    return this.request("GET", file);
  }

  protected settings(): Record<string, unknown> {
    return {
      ...(this.explicitName === undefined ? {} : { name: this.explicitName }),
      url: this.url,
      ...(this.authHeader === undefined ? {} : { authHeader: this.authHeader }),
      ...(this.timeoutMs === undefined ? {} : { timeoutMs: this.timeoutMs }),
      ...(this.external.length ? { external: this.external } : {}),
    };
  }

  /** One request with bounded attempts; the answer's body as text. */
  private async request(method: "PUT" | "GET", file: string, body?: string): Promise<string> {
    const target = `${this.url}/${file}`;
    const headers: Record<string, string> = {};
    if (this.authHeader !== undefined) headers.authorization = this.authorization();
    if (body !== undefined) headers["content-type"] = "text/javascript; charset=utf-8";
    const timeoutMs = this.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let lastFailure = "";
    for (let attempt = 0; attempt <= RETRIES; attempt++) {
      if (attempt > 0) await sleep(BACKOFF_MS * 2 ** (attempt - 1));
      try {
        const response = await fetch(target, {
          method,
          headers,
          signal: AbortSignal.timeout(timeoutMs),
          ...(body === undefined ? {} : { body }),
        });
        // The body is read under the same signal: a server that stalls mid-answer times out too.
        const text = await response.text();
        if (response.ok) return text;
        throw new HttpStatusError(response.status, response.statusText);
      } catch (error) {
        if (error instanceof HttpStatusError) {
          if (!retryable(error.status)) throw this.statusError(method, target, error);
          lastFailure = `answered ${error.message}`;
        } else {
          lastFailure = describeNetworkError(error, timeoutMs);
        }
      }
    }
    throw new WeftError(
      "STORAGE_UNREACHABLE",
      `${this.describe()}: ${method} ${target} failed after ${RETRIES + 1} attempts: ${lastFailure}`,
      { hint: "check that the artifact server is up and reachable from here" },
    );
  }

  /** The Authorization value, read now from the variable `authHeader` names. */
  private authorization(): string {
    const reference = this.authHeader!;
    const value = resolveSecretReference(reference);
    if (value === undefined || value === "") {
      const variable = reference.slice("env:".length);
      throw new WeftError(
        "ENV_VAR_INVALID",
        `${this.describe()}: the environment variable ${variable} (authHeader ${reference}) is not set`,
        {
          hint: `set ${variable} to the Authorization header's value (e.g. "Bearer …") where flows are built and run`,
        },
      );
    }
    return value;
  }

  private statusError(method: string, target: string, error: HttpStatusError): WeftError {
    const what = `${this.describe()}: ${method} ${target} answered ${error.message}`;
    if (error.status === 401 || error.status === 403) {
      return new WeftError(
        method === "PUT" ? "STORAGE_BUILD_FAILED" : "STORAGE_UNREACHABLE",
        what,
        {
          hint:
            this.authHeader === undefined
              ? "the server wants credentials: set authHeader to env:NAME and NAME to the Authorization value"
              : `the server refused the Authorization value from ${this.authHeader.slice(4)}`,
        },
      );
    }
    if (method === "GET" && (error.status === 404 || error.status === 410)) {
      return new WeftError("STORAGE_FLOW_MISSING", what, {
        hint: "was the flow built into this storage (weft build / weft register)?",
      });
    }
    return new WeftError(method === "PUT" ? "STORAGE_BUILD_FAILED" : "STORAGE_UNREACHABLE", what);
  }
}

function retryable(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/** What went wrong on the wire, in a phrase (fetch hides the cause behind "fetch failed"). */
function describeNetworkError(error: unknown, timeoutMs: number): string {
  if (error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError")) {
    return `no answer within ${timeoutMs} ms`;
  }
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  return cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
}

function invalid(message: string, hint?: string): WeftError {
  return new WeftError(
    "INVALID_FLOW_OPTIONS",
    `http storage: ${message}`,
    hint === undefined ? undefined : { hint },
  );
}

/** Validates the options once, at the boundary (never echoing a credential). */
function checkOptions(options: HttpStorageOptions): void {
  if (typeof options !== "object" || options === null) throw invalid("options are required");
  const { url, authHeader, timeoutMs, name } = options;
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    throw invalid(
      `url ${JSON.stringify(url)} is not a URL`,
      "e.g. https://artifacts.example.com/flows",
    );
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw invalid(`url must be http:// or https:// (got ${parsed.protocol})`);
  }
  if (parsed.username !== "" || parsed.password !== "") {
    throw new WeftError(
      "CREDENTIAL_IN_CONFIG",
      "http storage: url carries credentials; serialized configuration may only name where a secret comes from",
      { hint: 'drop them from the URL and use authHeader: "env:NAME"' },
    );
  }
  if (parsed.search !== "" || parsed.hash !== "") {
    throw invalid(
      "url must not have a query or a fragment (bundle names are appended to its path)",
      "a token in the query string would be serialized: use authHeader instead",
    );
  }
  if (
    authHeader !== undefined &&
    (typeof authHeader !== "string" || !ENV_REFERENCE.test(authHeader))
  ) {
    throw new WeftError(
      "CREDENTIAL_IN_CONFIG",
      "http storage: authHeader must be an env:NAME reference, never the header's value",
      { hint: 'write authHeader: "env:NAME" and set NAME to the header value where flows run' },
    );
  }
  if (timeoutMs !== undefined && (!Number.isInteger(timeoutMs) || timeoutMs <= 0)) {
    throw invalid(`timeoutMs must be a positive integer (got ${String(timeoutMs)})`);
  }
  if (name !== undefined && (typeof name !== "string" || name === "")) {
    throw invalid("name must be a non-empty string");
  }
}

/**
 * Keeps flows' bundles on an HTTP artifact server: `build()` PUTs
 * `${url}/<sha256>.mjs`, loads GET it (verified against its hash, then cached).
 * The Authorization header comes from an environment variable, read at use.
 * @example
 * createHttpStorage({ url: "https://artifacts.example.com/weft", authHeader: "env:ARTIFACTS_AUTH" })
 */
export function createHttpStorage(options: HttpStorageOptions): Storage {
  checkOptions(options);
  return guardStorage(new HttpStorage(options));
}

/** Rebuilds an http storage from validated JSON. */
export function httpStorageFromJSON(json: z.infer<typeof httpStorageSchema>): Storage {
  return createHttpStorage({
    url: json.url,
    flows: json.flows,
    ...(json.name === undefined ? {} : { name: json.name }),
    ...(json.authHeader === undefined ? {} : { authHeader: json.authHeader }),
    ...(json.timeoutMs === undefined ? {} : { timeoutMs: json.timeoutMs }),
    ...(json.external === undefined ? {} : { external: json.external }),
  });
}

/** The http storage kind. */
export const httpStorageKind: StorageKind<z.infer<typeof httpStorageSchema>> = {
  type: "http",
  schema: httpStorageSchema,
  create: httpStorageFromJSON,
  capabilities: { shareable: true, remote: true },
  flags: {
    url: { flag: "--url <url>", help: "base URL of the artifact server", required: true },
    authHeader: {
      flag: "--auth-header <env:NAME>",
      help: "Authorization header value, read from an environment variable",
    },
    name: STORAGE_NAME_FLAG,
  },
  fromFlags: (options) =>
    createHttpStorage({
      url: options.url as string,
      ...stringOption(options, "authHeader", "authHeader"),
      ...nameOption(options),
    }),
};
