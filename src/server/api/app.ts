// The API as one Hono app. `app.fetch` is the whole API: @hono/node-server serves it,
// and tests call `app.request()` in process, with no port.
//
// A request goes through, in this order: the request guard (Host, Origin,
// Content-Type, against DNS rebinding and cross-site writes, before anything else
// runs), the body limit, the route's authorization (scope), then the path
// parameters, query and body checked against the route's schemas. Only then does the
// handler run. Invariants:
// - A handler never sees unchecked input, and the whole body is read and checked
//   before any write starts: a client that goes away mid-body changes nothing.
// - Every error leaves through `errorResponse` (errors.ts) as
//   `{ error: { code, message, hint? } }`. Bad input is a 4xx, never a 500.
// - JSON is refused above MAX_JSON_DEPTH before it is parsed (schema checks and
//   error previews recurse once per level), and a "__proto__" key is refused rather
//   than silently dropped.
// Event-stream routes (kind "events") go through the same guard, auth and checks,
// then answer `text/event-stream` with the stream their handler opened
// (live-streams.ts; the streams end when `signal` aborts, the server closing).
// The app's state is the OpenAPI document (built once, on first use), the
// authenticator's short token cache (auth.ts) and the open event streams. An AbortSignal is made only for the routes that use
// one (long-poll claims), so ordinary requests add no listeners.
import { type Context, Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { z } from "zod";
import { isWeftError, WeftError } from "../../core/errors.ts";
import { packageVersion } from "../../core/package.ts";
import type { Logger } from "../../core/reporter.ts";
import type { DeploymentRules } from "../../serialization/deployment.ts";
import { badIdReason } from "../../serialization/limits.ts";
import type { ServerDb } from "../db/server-db.ts";
import { type Authenticator, type AuthOptions, createAuthenticator } from "./auth.ts";
import { errorResponse, invalidRequest, routeNotFound } from "./errors.ts";
import { jsonDeeperThan, MAX_JSON_DEPTH } from "./json-depth.ts";
import { type LiveStreamOptions, LiveStreams } from "./live-streams.ts";
import { openApiDocument } from "./openapi.ts";
import { type RequestGuardOptions, requestGuard } from "./request-guard.ts";
import { type AnyRoute, apiRoutes } from "./routes.ts";
import { serveUi } from "./ui-assets.ts";
import type { WorkerDirectory } from "./worker-directory.ts";

/** How the API app is made. */
export interface ApiAppOptions {
  readonly db: ServerDb;
  /** Token checking. @default { allowOpen: false } (every route but health needs a token) */
  readonly auth?: AuthOptions;
  /**
   * Which requests reach the API at all (Host, Origin, Content-Type), before
   * auth. @default the guard's defaults: a Host of localhost or an IP address,
   * no foreign origin, JSON writes
   */
  readonly guard?: RequestGuardOptions;
  /** Largest request body accepted (413 BODY_TOO_LARGE above it). @default 16 MiB */
  readonly bodyLimitBytes?: number;
  /** Where unexpected errors and refusals are logged. @default silent */
  readonly logger?: Logger;
  /** The longest a waiting claim goes without asking the database. @default 1000 */
  readonly claimPollMs?: number;
  /** How old a claim must be before an agent's heartbeat not listing it gives it back. @default 10000 */
  readonly claimAnswerGraceMs?: number;
  /** Aborts when the server closes: waiting claims answer at once. */
  readonly signal?: AbortSignal;
  /**
   * What a registered flow's storage and environment may be: the storage and
   * environment registries (their schemas) and whether module storage is allowed.
   * @default {} (weft's own type tags only; module storage refused)
   */
  readonly deployment?: DeploymentRules;
  /**
   * The folder of the built web UI, served at `/` (everything under /api stays the API).
   * @default none: the app serves the API only
   */
  readonly uiDir?: string;
  /**
   * The event streams (GET /api/events, /api/flow-runs/:id/events): a registry
   * made by the caller (to read its stats), or its options.
   * @default a registry over `db.changes` with its defaults, ended by `signal`
   */
  readonly live?: LiveStreams | LiveStreamOptions;
  /** Where the dashboard lists the distributed executor's workers. @default none */
  readonly workers?: WorkerDirectory;
}

/**
 * The headers of an event stream: not cached, not transformed, not buffered by a
 * proxy; and its connection closes when it ends (so the server's close, which
 * ends the streams, does not wait for those connections to time out idle).
 */
const EVENT_STREAM_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
  connection: "close",
} as const;

/** The default request body limit: 16 MiB. */
export const DEFAULT_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/**
 * The weft API as a Hono app: `app.fetch` is the whole API, so tests call
 * `app.request()` in process and the server hands it to @hono/node-server.
 * Routes, scopes and schemas come from one list ({@link apiRoutes}), which is
 * also the OpenAPI document at `/api/openapi.json`.
 * @example
 * const app = createApp({ db, auth: { allowOpen: true } });
 * const res = await app.request("/api/flow-runs?limit=10");
 */
export function createApp(options: ApiAppOptions): Hono {
  const logger = options.logger ?? silent;
  const limit = options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES;
  const auth = createAuthenticator(options.db, options.auth);
  let document: unknown;
  const live =
    options.live instanceof LiveStreams
      ? options.live
      : new LiveStreams(options.db.changes, options.live, options.signal);
  const routes = apiRoutes({
    db: options.db,
    live,
    openapi: () => {
      document ??= openApiDocument(routes, packageVersion());
      return document;
    },
    ...(options.claimPollMs === undefined ? {} : { claimPollMs: options.claimPollMs }),
    ...(options.claimAnswerGraceMs === undefined
      ? {}
      : { claimAnswerGraceMs: options.claimAnswerGraceMs }),
    ...(options.deployment === undefined ? {} : { deployment: options.deployment }),
    ...(options.workers === undefined ? {} : { workers: options.workers }),
  });

  const app = new Hono();
  app.use(requestGuard(options.guard));
  app.use(
    "/api/*",
    bodyLimit({
      maxSize: limit,
      onError: () => {
        throw new WeftError(
          "BODY_TOO_LARGE",
          `the request body is larger than the server's limit of ${limit} bytes`,
          { hint: "send smaller batches, or start the server with a larger --body-limit" },
        );
      },
    }),
  );
  for (const r of routes)
    app.on(r.method.toUpperCase(), r.path, (c) => serve(c, r, auth, options.signal));
  if (options.uiDir !== undefined) serveUi(app, options.uiDir);
  app.notFound(routeNotFound);
  app.onError((error, c) => errorResponse(error, c, logger));
  return app;
}

async function serve(
  c: Context,
  r: AnyRoute,
  auth: Authenticator,
  closing: AbortSignal | undefined,
): Promise<Response> {
  const caller = await auth.authorize(
    c.req.header("authorization"),
    r.scope,
    `${r.method.toUpperCase()} ${r.path}`,
  );
  const params = checkParams(c.req.param());
  const query = r.query === undefined ? undefined : check(r.query, c.req.query(), "query");
  if (r.kind === "events") {
    // The stream lives past this call: it ends when the client goes away or the server closes.
    const stream = await r.handle({
      body: undefined,
      query,
      params,
      signal: c.req.raw.signal,
      caller,
    });
    return new Response(stream, { status: 200, headers: EVENT_STREAM_HEADERS });
  }
  let body: unknown;
  if (r.body !== undefined) {
    const json = await readJson(c);
    body = r.quickBody?.(json) ?? check(r.body, json, "body");
  }
  const watch = whileServing(c.req.raw.signal, closing);
  let result: unknown;
  try {
    result = await r.handle({
      body,
      query,
      params,
      get signal() {
        return watch.signal();
      },
      caller,
    });
  } finally {
    watch.release();
  }
  const status =
    r.created === "always"
      ? 201
      : r.created === "when-new" && (result as { created?: unknown }).created === true
        ? 201
        : 200;
  return c.json(result as object, status);
}

/**
 * A signal that aborts when the client goes away or the server closes, made
 * only for the routes that ask (long-poll claims); `release` drops its listeners
 * on the server's long-lived signal once the request is answered.
 */
function whileServing(
  request: AbortSignal,
  closing: AbortSignal | undefined,
): { signal(): AbortSignal; release(): void } {
  let controller: AbortController | undefined;
  const releases: (() => void)[] = [];
  return {
    signal() {
      if (closing === undefined) return request;
      if (controller === undefined) {
        const made = new AbortController();
        controller = made;
        const abort = () => made.abort();
        for (const source of [request, closing]) {
          if (source.aborted) abort();
          source.addEventListener("abort", abort, { once: true });
          releases.push(() => source.removeEventListener("abort", abort));
        }
      }
      return controller.signal;
    },
    release() {
      for (const release of releases.splice(0)) release();
    },
  };
}

/** Path parameters (ids, names) are bounded and NUL-free like every string of a body. */
function checkParams(params: Record<string, string>): Record<string, string> {
  for (const [name, value] of Object.entries(params)) {
    const reason = badIdReason(value);
    if (reason !== undefined) {
      const shown = JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}…` : value);
      throw new WeftError(
        "INVALID_REQUEST",
        `invalid path parameter ${name}: ${reason} (got ${shown})`,
        {
          hint: "pass an id (or name) as a list or an earlier answer shows it",
        },
      );
    }
  }
  return params;
}

function check(schema: z.ZodType, input: unknown, where: "body" | "query"): unknown {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw invalidRequest(where, parsed.error, input);
  return parsed.data;
}

/** The request body as JSON (an empty body is `{}`); the whole body is read before any write starts. */
async function readJson(c: Context): Promise<unknown> {
  let text: string;
  try {
    text = await c.req.text();
  } catch (error) {
    if (isWeftError(error)) throw error;
    // The client went away mid-body (or sent a broken one): nothing was written, and nothing will be.
    throw new WeftError(
      "INVALID_REQUEST",
      `the request body could not be read: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (text.trim() === "") return {};
  // Before parsing: schema checks and error previews recurse once per level.
  if (jsonDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new WeftError(
      "INVALID_REQUEST",
      `the request body nests objects and arrays deeper than the limit of ${MAX_JSON_DEPTH} levels`,
      {
        hint: `flatten the data: no JSON value sent to weft may nest more than ${MAX_JSON_DEPTH} levels`,
      },
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new WeftError(
      "INVALID_REQUEST",
      `the request body is not valid JSON: ${(error as Error).message}`,
      {
        hint: 'send one JSON object with "Content-Type: application/json"',
      },
    );
  }
  // The schemas drop a "__proto__" key without a word: refuse it instead (a
  // parameter of that name would reach Object.prototype). Parsed again only when
  // the text may hold one, so that ordinary bodies cost one parse.
  if (text.includes("__proto__") || text.includes("\\u")) {
    JSON.parse(text, (key, value) => {
      if (key === "__proto__") {
        throw new WeftError(
          "INVALID_REQUEST",
          'the request body holds a "__proto__" key: it is never a parameter or field name',
          {
            hint: "rename the key (parameters may not be named __proto__, constructor or prototype)",
          },
        );
      }
      return value;
    });
  }
  return parsed;
}
