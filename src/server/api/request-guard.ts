import { isIP } from "node:net";
import type { MiddlewareHandler } from "hono";
import { WeftError } from "../../core/errors.ts";

/**
 * Which requests reach the API at all, whatever their token: the checks local
 * developer servers (Vite's `server.allowedHosts`, Jupyter) make so that a web
 * page cannot use a server on the visitor's machine.
 */
export interface RequestGuardOptions {
  /**
   * Refuse a `Host` header that names neither this server nor an allowed host
   * (DNS rebinding: a page whose name resolves to 127.0.0.1 reads the API).
   * `startServer` checks on loopback, and everywhere once `allowedHosts` is set.
   * @default true
   */
  readonly checkHost?: boolean;
  /** The address the server listens on: a `Host` of that name is its own. @default "127.0.0.1" */
  readonly listenHost?: string;
  /**
   * The port the server is reached at (a function when it is known only once
   * listening): a `Host` naming this server at another port is refused.
   * @default any port
   */
  readonly port?: number | (() => number | undefined);
  /**
   * More names a `Host` may carry, at any port (a reverse proxy's name, say);
   * a name starting with "." also allows its subdomains. IP addresses and
   * `localhost` are always allowed: DNS rebinding needs a DNS name.
   * @default []
   */
  readonly allowedHosts?: readonly string[];
  /**
   * Browser origins (`https://ui.example.com`) besides the server's own that
   * may call the API; they get CORS headers. Every other `Origin` is refused.
   * @default []
   */
  readonly allowedOrigins?: readonly string[];
}

const WRITES: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * The request guard: one middleware before auth, on every route, open server
 * or not. In order: the `Host` must be this server's (403 HOST_NOT_ALLOWED);
 * an `Origin` must be the server's own or an allowed one, and a
 * `Sec-Fetch-Site: cross-site` request must come from an allowed origin (403
 * ORIGIN_NOT_ALLOWED); a write must be `Content-Type: application/json` (415
 * UNSUPPORTED_MEDIA_TYPE). Together they keep browsers to same-origin writes:
 * a cross-origin page can send neither a JSON content type without a CORS
 * preflight (which fails: no CORS headers for foreign origins) nor hide its
 * `Origin`, and a rebound name fails the `Host` check.
 */
export function requestGuard(options: RequestGuardOptions = {}): MiddlewareHandler {
  const checkHost = options.checkHost ?? true;
  const listenHost = normalizeName(options.listenHost ?? "127.0.0.1");
  const portOf =
    typeof options.port === "function" ? options.port : () => options.port as number | undefined;
  const hosts = (options.allowedHosts ?? []).map(checkAllowedHost);
  const origins: ReadonlySet<string> = new Set((options.allowedOrigins ?? []).map(checkOrigin));

  const hostAllowed = (name: string, port: number | undefined): boolean => {
    for (const allowed of hosts) {
      if (
        allowed.startsWith(".")
          ? name === allowed.slice(1) || name.endsWith(allowed)
          : name === allowed
      )
        return true;
    }
    const own = name === listenHost || name === "localhost" || isIP(unbracket(name)) !== 0;
    if (!own) return false;
    const expected = portOf();
    return port === undefined || expected === undefined || port === expected;
  };

  return async (c, next) => {
    const hostHeader = c.req.header("host") ?? new URL(c.req.url).host;
    if (checkHost) {
      const parsed = parseHost(hostHeader);
      if (parsed === undefined || !hostAllowed(parsed.name, parsed.port)) {
        throw new WeftError(
          "HOST_NOT_ALLOWED",
          `this server does not answer requests for host ${shown(hostHeader)}: it serves ${describeOwn(listenHost, portOf())}`,
          {
            hint: `reach it by its address, or start the server with --allowed-host ${parsed === undefined ? "NAME" : shown(parsed.name, false)} (WEFT_ALLOWED_HOSTS) if that name is yours`,
          },
        );
      }
    }

    const origin = c.req.header("origin");
    const site = c.req.header("sec-fetch-site")?.toLowerCase();
    const listed = origin !== undefined && origins.has(originOf(origin));
    if (
      (origin !== undefined && !listed && !sameOrigin(origin, hostHeader)) ||
      (site === "cross-site" && !listed)
    ) {
      throw new WeftError(
        "ORIGIN_NOT_ALLOWED",
        origin === undefined
          ? "this server does not answer cross-site browser requests (Sec-Fetch-Site: cross-site)"
          : `this server does not answer requests from the web page origin ${shown(origin)}: only its own origin may call it`,
        {
          hint: "start the server with --allowed-origin <scheme://host:port> (WEFT_ALLOWED_ORIGINS) to let a web page of that origin call the API",
        },
      );
    }
    if (listed) {
      c.header("Access-Control-Allow-Origin", origin);
      c.header("Vary", "Origin");
      if (c.req.method === "OPTIONS" && c.req.header("access-control-request-method")) {
        c.header("Access-Control-Allow-Methods", "GET, POST");
        c.header("Access-Control-Allow-Headers", "authorization, content-type");
        c.header("Access-Control-Max-Age", "600");
        return c.body(null, 204);
      }
    }

    if (WRITES.has(c.req.method)) {
      const type = c.req.header("content-type");
      if (!isJsonType(type)) {
        throw new WeftError(
          "UNSUPPORTED_MEDIA_TYPE",
          type === undefined
            ? `${c.req.method} ${shown(c.req.path, false)} needs "Content-Type: application/json" (the request has none)`
            : `${c.req.method} ${shown(c.req.path, false)} needs "Content-Type: application/json", not ${shown(type)}`,
          {
            hint: 'send the body as JSON with "Content-Type: application/json" (an empty body too: send {})',
          },
        );
      }
    }
    await next();
  };
}

/** A header value for a message: quoted, and cut at 100 characters (headers may be 16 KiB). */
function shown(value: string, quoted = true): string {
  const cut = value.length > 100 ? `${value.slice(0, 99)}…` : value;
  return quoted ? JSON.stringify(cut) : cut;
}

/** `application/json`, with no charset or UTF-8. */
function isJsonType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const [type, ...parameters] = header.split(";");
  if (type?.trim().toLowerCase() !== "application/json") return false;
  for (const parameter of parameters) {
    const [key, value] = parameter.split("=");
    if (key?.trim().toLowerCase() !== "charset") continue;
    const charset = value?.trim().replace(/^"|"$/g, "").toLowerCase();
    if (charset !== "utf-8" && charset !== "utf8") return false;
  }
  return true;
}

/** True when `origin` (scheme://host[:port]) names the host the request was sent to. */
function sameOrigin(origin: string, hostHeader: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // "null" (a sandboxed frame, a file) and anything else that is no origin
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return false;
  try {
    // The Host read with the origin's scheme, so that default ports compare equal.
    return new URL(`${url.protocol}//${hostHeader}`).host === url.host;
  } catch {
    return false;
  }
}

/** An Origin header normalized as URL.origin does ("" when it is none). */
function originOf(value: string): string {
  try {
    return new URL(value).origin;
  } catch {
    return "";
  }
}

/** A Host header's name (lowercase; an IPv6 address in brackets) and port. */
function parseHost(value: string): { name: string; port: number | undefined } | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]\s/@]+)(?::(\d{1,5}))?$/i.exec(value.trim());
  if (match === null) return undefined;
  return {
    name: normalizeName(match[1]!),
    port: match[2] === undefined ? undefined : Number(match[2]),
  };
}

function normalizeName(name: string): string {
  const lower = name.toLowerCase();
  // A bare IPv6 listen address ("::1") is written in brackets in a Host header.
  return isIP(lower) === 6 ? `[${lower}]` : lower;
}

function unbracket(name: string): string {
  return name.replace(/^\[|\]$/g, "");
}

function describeOwn(listenHost: string, port: number | undefined): string {
  const at = port === undefined ? "" : `:${port}`;
  return `${listenHost}${at}, localhost${at} and IP addresses`;
}

/** An allowed host as given (a name, or ".domain" for it and its subdomains), checked. */
function checkAllowedHost(value: string): string {
  const name = value.trim().toLowerCase();
  if (!/^\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/.test(name) && isIP(unbracket(name)) === 0) {
    throw new WeftError(
      "INVALID_ARGUMENT",
      `allowed host ${JSON.stringify(value)} is not a host name`,
      {
        hint: "give a name as it appears in URLs, without scheme or port: --allowed-host weft.example.com (or .example.com for every subdomain)",
      },
    );
  }
  return normalizeName(name);
}

/** An allowed origin as given, checked and normalized (`https://ui.example.com`). */
function checkOrigin(value: string): string {
  let url: URL | undefined;
  try {
    url = new URL(value.trim());
  } catch {
    url = undefined;
  }
  if (
    url === undefined ||
    (url.protocol !== "http:" && url.protocol !== "https:") ||
    url.pathname !== "/" ||
    url.search !== "" ||
    url.hash !== "" ||
    url.username !== ""
  ) {
    throw new WeftError(
      "INVALID_ARGUMENT",
      `allowed origin ${JSON.stringify(value)} is not an origin (scheme://host[:port])`,
      { hint: "give it as a browser sends it: --allowed-origin https://ui.example.com:8443" },
    );
  }
  return url.origin;
}
