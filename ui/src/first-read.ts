// The first view's API read, started by the app's entry (main.tsx) before the app's code has
// loaded, so that the API's time and the app's loading overlap instead of adding up.
//
// Decisions:
// - The entry chunk is this module and the import of the app, whose code is one big chunk that
//   index.html preloads (vite.config.ts). Until that chunk has arrived, been compiled and run,
//   and React has rendered the view that asks, the view's first read is already on its way: on
//   /runs the page of runs the URL shows, on /runs/<id> the run with its flow (the run page's first
//   read, `include=flow`). Other views start nothing early.
// - It is a plain fetch of the URL the typed client will ask for, with the same headers. The
//   client's fetch (api.ts) takes this response instead of sending the request again: once, for
//   the same path and query (in any order) and the same token, within FIRST_READ_MS. The answer
//   then goes through the client's checks (status, schema) like any other, and a view that asks
//   for something else never waits on it.
// - No inline script in index.html: the page's policy (`script-src 'self'`) forbids one, and the
//   entry chunk, a few hundred bytes, runs as early.
import { runsPageOptions } from "./pages/runs-query.ts";
import { currentToken } from "./session-token.ts";

/** A started read is given to the client only this soon after the page started it. */
const FIRST_READ_MS = 10_000;

interface FirstRead {
  readonly key: string;
  readonly authorization: string | undefined;
  readonly response: Promise<Response>;
  readonly until: number;
}

let started: FirstRead | undefined;

/** The API path (with its query) of the first read of the view at this location, if any. */
export function firstReadPath(pathname: string, search: string): string | undefined {
  if (pathname === "/runs") {
    const options: Record<string, unknown> = { ...runsPageOptions(new URLSearchParams(search)) };
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(options)) query.set(name, String(value));
    return `/api/flow-runs?${query}`;
  }
  const run = /^\/runs\/([^/]+)$/.exec(pathname);
  if (run === null) return undefined;
  try {
    // The path's id as the router decodes it, encoded as the client encodes it.
    return `/api/flow-runs/${encodeURIComponent(decodeURIComponent(run[1]!))}?include=flow`;
  } catch {
    return undefined; // a malformed escape: the view shows what is wrong, without help
  }
}

/** Starts the first read of the view at the window's location, if it has one. */
export function startFirstRead(): void {
  const path = firstReadPath(window.location.pathname, window.location.search);
  if (path === undefined) return;
  const token = currentToken();
  const authorization = token === undefined || token === "" ? undefined : `Bearer ${token}`;
  const headers: Record<string, string> = { accept: "application/json" };
  if (authorization !== undefined) headers.authorization = authorization;
  const response = globalThis.fetch(path, { method: "GET", headers });
  // Not taken (the view asked for something else): its failure is nobody's concern.
  response.catch(() => {});
  started = { key: keyOf(path), authorization, response, until: Date.now() + FIRST_READ_MS };
}

/** The started read's response when `input` and `init` ask for the same thing; at most once. */
export function takeFirstRead(
  input: RequestInfo | URL,
  init: RequestInit | undefined,
): Promise<Response> | undefined {
  const read = started;
  if (read === undefined || typeof input !== "string" || (init?.method ?? "GET") !== "GET")
    return undefined;
  if (Date.now() > read.until) {
    started = undefined;
    return undefined;
  }
  const authorization = new Headers(init?.headers).get("authorization") ?? undefined;
  if (keyOf(input) !== read.key || authorization !== read.authorization) return undefined;
  started = undefined;
  return read.response;
}

/** A URL's path and query, its parameters sorted (the client and this module may order them differently). */
function keyOf(url: string): string {
  const parsed = new URL(url, window.location.origin);
  if (parsed.origin !== window.location.origin) return "";
  const params = [...parsed.searchParams].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${parsed.pathname}?${new URLSearchParams(params)}`;
}
