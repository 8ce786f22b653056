import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import { serve } from "@hono/node-server";
import { WeftError } from "../core/errors.ts";
import { PACKAGE_ROOT } from "../core/package.ts";
import type { Logger } from "../core/reporter.ts";
import type { DeploymentRules } from "../serialization/deployment.ts";
import { createApp } from "./api/app.ts";
import { errorBody } from "./api/errors.ts";
import { type LiveStreamOptions, type LiveStreamStats, LiveStreams } from "./api/live-streams.ts";
import { type UiStatus, uiStatus } from "./api/ui-assets.ts";
import type { WorkerDirectory } from "./api/worker-directory.ts";
import { openServerDb } from "./db/open-server-db.ts";
import type { ServerDb } from "./db/server-db.ts";
import { createRunHealth, type RunHealthOptions } from "./loops/run-health.ts";
import { createScheduler, type SchedulerOptions } from "./loops/scheduler.ts";
import type { ServerLoop } from "./loops/server-loop.ts";

/** How `weft server start` runs. */
export interface ServerOptions {
  /** A SQLite file path, `:memory:`, or a `postgres://` URL. */
  readonly db: string;
  /** The address to listen on. Anything but loopback needs an API token first. @default "127.0.0.1" */
  readonly host?: string;
  /** The port; 0 picks a free one (see {@link RunningServer.url}). @default 4200 */
  readonly port?: number;
  /** Largest request body accepted. @default 16 MiB */
  readonly bodyLimitBytes?: number;
  /**
   * Host names besides its address, `localhost` and IP addresses that requests
   * may address the server by (a reverse proxy's name); ".example.com" allows
   * the subdomains too. On loopback the `Host` header is always checked (DNS
   * rebinding); on other addresses only once this is set. @default []
   */
  readonly allowedHosts?: readonly string[];
  /** Web page origins besides the server's own that may call the API (CORS). @default [] */
  readonly allowedOrigins?: readonly string[];
  /** Where the server logs. @default silent */
  readonly logger?: Logger;
  /** How long a verified token is trusted before the database is asked again. @default 2000 */
  readonly tokenCacheMs?: number;
  /** The longest a waiting claim goes without asking the database. @default 1000 */
  readonly claimPollMs?: number;
  /**
   * How old a claim must be before an agent's heartbeat that does not list the
   * run gives it back to Scheduled (its answer never reached the agent). @default 10000
   */
  readonly claimAnswerGraceMs?: number;
  /** How long `close()` lets requests in flight finish before cutting their connections. @default 5000 */
  readonly closeGraceMs?: number;
  /** The scheduler loop's settings, or false to run none. @default {} (every 10 s, 10 runs ahead) */
  readonly scheduler?: false | Omit<SchedulerOptions, "db" | "logger">;
  /** The run-health loop's settings, or false to run none. @default {} (every 5 s) */
  readonly runHealth?: false | Omit<RunHealthOptions, "db" | "logger">;
  /**
   * What a registered flow's storage and environment may be (the registries,
   * and `allowModuleStorage` from `--allow-module-storage`).
   * @default {} (weft's own type tags only; module storage refused)
   */
  readonly deployment?: DeploymentRules;
  /**
   * The folder of the built web UI to serve at `/`, or false to serve the API only.
   * @default the package's dist/ui
   */
  readonly ui?: string | false;
  /**
   * The event streams (GET /api/events, /api/flow-runs/:id/events): how many may
   * be open, how often a keepalive goes out, how much a slow reader may leave queued.
   * @default { maxStreams: 1000, keepaliveMs: 15000, queueLimit: 10000 }
   */
  readonly eventStreams?: LiveStreamOptions;
  /**
   * Where the dashboard lists the distributed executor's workers (the CLI makes
   * one from `--redis`); closed with the server. @default none
   */
  readonly workers?: WorkerDirectory;
}

/** A server that is listening. */
export interface RunningServer {
  /** The base URL clients use, with the real port (e.g. `http://127.0.0.1:4200`). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly db: ServerDb;
  /** True when it serves requests without a token (loopback, no token yet). */
  readonly open: boolean;
  /** The web UI it serves at `/` and whether it is built; undefined when started with `ui: false`. */
  readonly ui: UiStatus | undefined;
  /** The open event streams' counters. */
  eventStreamStats(): LiveStreamStats;
  /** Stops the loops, ends the event streams, lets requests in flight finish, closes the HTTP server and the database. Idempotent. */
  close(): Promise<void>;
}

/** Where `npm run build` puts the web UI (ui/ in the repository, built by Vite). */
export const DEFAULT_UI_DIR = join(PACKAGE_ROOT, "dist", "ui");

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** The most a request's line and headers may take (Node's default, made explicit): a longer URL is 431. */
export const MAX_HEADER_BYTES = 16 * 1024;

/**
 * How long an idle kept-alive connection stays open (Node's default is 5 s). A client
 * that reuses a connection the server has just closed gets "other side closed" for a
 * request the server never saw; clients drop idle connections a second or two before
 * the time the server announces (`Keep-Alive: timeout=30`), so the race needs a client
 * whose event loop is blocked across that moment: at 5 s a busy agent or a loaded
 * machine met it, at 30 s it is rare.
 */
export const KEEP_ALIVE_MS = 30_000;

/** True for an address only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return (
    h === "localhost" ||
    h === "::1" ||
    /^127(\.\d{1,3}){3}$/.test(h) ||
    /^::ffff:127(\.\d{1,3}){3}$/.test(h)
  );
}

/**
 * Starts the weft server: opens the database (migrating it), refuses a
 * non-loopback address while no API token exists (TOKEN_REQUIRED), serves the
 * API, and runs the scheduler and run-health loops (each on one replica at a time).
 * @example
 * const server = await startServer({ db: "weft.db", port: 0 });
 * console.log(server.url);
 * await server.close();
 */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const logger = options.logger ?? silent;
  const loopback = isLoopbackHost(host);
  const db = await openServerDb({ db: options.db, logger });
  const closing = new AbortController();
  try {
    const tokens = await db.tokens.countActive();
    if (!loopback && tokens === 0) {
      throw new WeftError(
        "TOKEN_REQUIRED",
        `refusing to listen on ${host} without an API token: every request from another machine must carry one`,
        {
          hint: `make one first with \`weft token create --name admin --scope admin --db ${options.db}\`, or listen on 127.0.0.1`,
        },
      );
    }
    const port = options.port ?? 4200;
    let listening: AddressInfo | undefined;
    const allowedHosts = options.allowedHosts ?? [];
    const ui = options.ui === false ? undefined : uiStatus(options.ui ?? DEFAULT_UI_DIR);
    const live = new LiveStreams(db.changes, options.eventStreams, closing.signal);
    const app = createApp({
      db,
      live,
      ...(ui === undefined ? {} : { uiDir: ui.dir }),
      guard: {
        // Beyond loopback every request needs a token, which a rebound page has not got;
        // names there are the operator's, so Host is checked only once they are listed.
        checkHost: loopback || allowedHosts.length > 0,
        listenHost: host,
        port: () => listening?.port,
        allowedHosts,
        allowedOrigins: options.allowedOrigins ?? [],
      },
      auth: {
        allowOpen: loopback,
        ...(options.tokenCacheMs === undefined ? {} : { cacheMs: options.tokenCacheMs }),
      },
      logger,
      signal: closing.signal,
      ...(options.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: options.bodyLimitBytes }),
      ...(options.claimPollMs === undefined ? {} : { claimPollMs: options.claimPollMs }),
      ...(options.claimAnswerGraceMs === undefined
        ? {}
        : { claimAnswerGraceMs: options.claimAnswerGraceMs }),
      ...(options.deployment === undefined ? {} : { deployment: options.deployment }),
      ...(options.workers === undefined ? {} : { workers: options.workers }),
    });
    const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
      const s = serve({
        fetch: app.fetch,
        hostname: host,
        port,
        serverOptions: { maxHeaderSize: MAX_HEADER_BYTES, keepAliveTimeout: KEEP_ALIVE_MS },
      });
      s.on("clientError", answerClientError);
      s.once("listening", () => {
        listening = s.address() as AddressInfo;
        resolve(s);
      });
      s.once("error", (error: NodeJS.ErrnoException) => {
        reject(
          new WeftError(
            "INVALID_ARGUMENT",
            `cannot listen on ${host}:${port}: ${error.code === "EADDRINUSE" ? "the address is already in use" : error.message}`,
            {
              cause: error,
              hint: "choose another --port (or WEFT_PORT), or stop what listens there",
            },
          ),
        );
      });
    });
    const loops: ServerLoop[] = [];
    if (options.scheduler !== false)
      loops.push(createScheduler({ ...options.scheduler, db, logger }));
    if (options.runHealth !== false)
      loops.push(createRunHealth({ ...options.runHealth, db, logger }));
    for (const loop of loops) {
      // A first tick now, so that scheduled flows have their runs at once; failures are logged.
      loop
        .tick()
        .catch((error: unknown) =>
          logger.error(
            `a server loop's first tick failed: ${(error as Error)?.message ?? String(error)}`,
          ),
        );
      loop.start();
    }
    const address = listening ?? (server.address() as AddressInfo);
    const urlHost = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
    const url = `http://${urlHost}:${address.port}`;
    let closed: Promise<void> | undefined;
    return {
      url,
      host,
      port: address.port,
      db,
      open: loopback && tokens === 0,
      ui,
      eventStreamStats: () => live.stats(),
      close() {
        closed ??= (async () => {
          // First: waiting claims answer and event streams end, so their connections go idle.
          closing.abort();
          await Promise.all(loops.map((loop) => loop.stop()));
          await new Promise<void>((resolve) => {
            const s = server as { closeIdleConnections?(): void; closeAllConnections?(): void };
            const grace = setTimeout(() => s.closeAllConnections?.(), options.closeGraceMs ?? 5000);
            // Connections go idle as their last answers (the waiting claims') go out; kept
            // alive KEEP_ALIVE_MS, each is closed as soon as it is idle, not at the grace.
            const idle = setInterval(() => s.closeIdleConnections?.(), 20);
            server.close(() => {
              clearTimeout(grace);
              clearInterval(idle);
              resolve();
            });
            s.closeIdleConnections?.();
          });
          await options.workers?.close();
          await db.close();
        })();
        return closed;
      },
    };
  } catch (error) {
    closing.abort();
    await options.workers?.close().catch(() => {});
    await db.close().catch(() => {});
    throw error;
  }
}

const CLIENT_ERRORS: Readonly<Record<string, [number, string, string, string, string?]>> = {
  HPE_HEADER_OVERFLOW: [
    431,
    "Request Header Fields Too Large",
    "HEADERS_TOO_LARGE",
    `the request's URL and headers are larger than the server's limit of ${MAX_HEADER_BYTES} bytes`,
    "shorten the URL (its query string) or the headers; request bodies may be far larger",
  ],
  HPE_CHUNK_EXTENSIONS_OVERFLOW: [
    413,
    "Payload Too Large",
    "BODY_TOO_LARGE",
    "the request's chunk extensions are too large",
  ],
  ERR_HTTP_REQUEST_TIMEOUT: [
    408,
    "Request Timeout",
    "INVALID_REQUEST",
    "the request was not received in time",
  ],
};

/**
 * Answers a request Node's HTTP parser refused (a URL over the header limit, a
 * malformed request line) in the API's JSON error shape rather than a bare
 * status or a reset. The socket is ended, not destroyed: the client may still be
 * sending its oversized head, and reading on until it is done means it reads the
 * answer instead of a connection reset.
 */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  const answered = socket as Socket & { weftAnswered?: boolean };
  if (answered.weftAnswered) return; // the parser reports each further chunk: answered once
  answered.weftAnswered = true;
  if (error.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, reason, code, message, hint] = CLIENT_ERRORS[error.code ?? ""] ?? [
    400,
    "Bad Request",
    "INVALID_REQUEST",
    `the request is not valid HTTP (${error.code ?? error.message})`,
  ];
  const body = JSON.stringify(errorBody(code, message, hint));
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
  // A client that never stops sending is cut off after a while.
  setTimeout(() => socket.destroy(), 5000).unref();
}
