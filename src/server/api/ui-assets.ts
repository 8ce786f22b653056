// The web UI's files, served by the API's app at `/` (the API itself stays under /api).
//
// Decisions:
// - The UI is a single-page app with history routing: every GET outside /api and /assets
//   that names no file answers index.html, so `/runs/<id>` can be shared and bookmarked.
// - Built assets have content-hashed names under /assets/: browsers keep them a year
//   (immutable); index.html is never cached, so a new build is seen on the next load.
// - Pages carry a Content-Security-Policy that allows only this origin (scripts, styles,
//   fetches) and no framing, so the page cannot be embedded to trick a click.
// - Without a built UI the server still serves the API; `/` answers a page that says how
//   to build it, and `uiStatus` lets `weft server start`/`weft up` say so at start.
import { existsSync, readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { extname, join, normalize, sep } from "node:path";
import type { Context, Hono } from "hono";

/** Where the built UI lives, and whether it is there. */
export interface UiStatus {
  readonly dir: string;
  readonly built: boolean;
}

/** Whether `dir` holds a built UI (its index.html). */
export function uiStatus(dir: string): UiStatus {
  return { dir, built: existsSync(join(dir, "index.html")) };
}

const PAGE_HEADERS = {
  "content-type": "text/html; charset=utf-8",
  "cache-control": "no-cache",
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
} as const;

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>weft</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto">
<h1>weft's web UI is not built</h1>
<p>This server answers the API under <a href="/api/openapi.json">/api</a>, but its UI files are not there.
In a checkout of weft, build them with <code>npm run build</code> (the npm package ships them built).</p>
</body></html>`;

/** Content types of the files a Vite build writes. */
const TYPES: Readonly<Record<string, string>> = {
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".json": "application/json",
  ".txt": "text/plain; charset=utf-8",
  ".map": "application/json",
};

/** Serves the UI in `dir` from `app` (after the API's routes, which keep /api). */
export function serveUi(app: Hono, dir: string): void {
  const root = normalize(dir);
  app.get("*", async (c, next) => {
    const path = c.req.path;
    if (path === "/api" || path.startsWith("/api/")) return next();
    const file = fileIn(root, path);
    if (path.startsWith("/assets/")) {
      if (file === undefined) return c.body("not found", 404, { "content-type": "text/plain" });
      return sendFile(c, file, "public, max-age=31536000, immutable");
    }
    if (file !== undefined && !file.endsWith(`${sep}index.html`))
      return sendFile(c, file, "public, max-age=3600");
    return page(c, root);
  });
}

async function sendFile(c: Context, file: string, cacheControl: string): Promise<Response> {
  const body = await readFile(file);
  return c.body(body, 200, {
    "content-type": TYPES[extname(file)] ?? "application/octet-stream",
    "cache-control": cacheControl,
    "x-content-type-options": "nosniff",
  });
}

/** A file under the UI's folder that `path` names, if there is one. */
function fileIn(root: string, path: string): string | undefined {
  if (path === "/" || path.includes("..") || path.includes("\0")) return undefined;
  const file = normalize(join(root, path));
  if (!file.startsWith(root + sep)) return undefined;
  try {
    return statSync(file).isFile() ? file : undefined;
  } catch {
    return undefined;
  }
}

function page(c: Context, root: string): Response {
  let html: string;
  try {
    html = readFileSync(join(root, "index.html"), "utf8");
  } catch {
    return c.body(NOT_BUILT, 404, PAGE_HEADERS);
  }
  return c.body(html, 200, PAGE_HEADERS);
}
