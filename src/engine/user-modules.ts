import { existsSync, realpathSync } from "node:fs";
import { register } from "node:module";
import { dirname, join, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { FROM_SOURCE, moduleUrl, PACKAGE_NAME, PACKAGE_ROOT } from "../core/package.ts";

/**
 * Resolves the bare specifier `weftflow` as the runtime module of the copy of
 * weft given at registration, and keeps weft's own modules out of tsx's
 * namespace (tsx tags every module a namespaced file imports; a tagged copy of
 * weft would be a second runtime). The rest of the chain (tsx) still resolves
 * and loads them. It runs in Node's module-hooks thread, so it is plain
 * JavaScript handed over as a data: URL (no file, no loader needed to read it).
 */
const RUNTIME_HOOKS = `
let runtime, own;
export function initialize(data) { runtime = data.runtime; own = data.own; }
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier === ${JSON.stringify(PACKAGE_NAME)} ? runtime : specifier, context);
  if (!own.some((dir) => resolved.url.startsWith(dir))) return resolved;
  const url = new URL(resolved.url);
  url.search = "";
  return { ...resolved, url: url.href };
}`;

/** TypeScript files, which tsx loads; anything else is loaded by Node as it is. */
const TYPESCRIPT = /\.[cm]?tsx?$/;

/** The module users' `weftflow` is: this copy's public API. */
const runtime = moduleUrl("index");

let runtimeLinked = false;
let typescript: Promise<(url: string) => Promise<unknown>> | undefined;

/**
 * Makes `import … from "weftflow"` in users' modules load this copy of weft,
 * whatever their own directory would find (another version, or nothing when
 * `npx weftflow` runs a file in a directory without it): one runtime per
 * process, so that tasks see this engine's context(). Registered after tsx, so
 * that this hook runs first and sees what tsx answers.
 */
async function linkRuntime(): Promise<void> {
  if (runtimeLinked) return;
  runtimeLinked = true;
  // Once hooks exist, every module this process resolves makes a round trip to the hooks
  // thread (~0.5 ms each: 400 ms for weft's public API and zod). Loaded first, they make none.
  await import(runtime);
  register(`data:text/javascript,${encodeURIComponent(RUNTIME_HOOKS)}`, {
    data: {
      runtime,
      own: ["src", "dist"].map((dir) => pathToFileURL(join(PACKAGE_ROOT, dir, sep)).href),
    },
  });
}

/**
 * Whether Node, resolving `weftflow` from `file`, finds this copy anyway: the
 * file is inside this package (a self-reference), or the first
 * node_modules/weftflow above it is this copy. Then no module hook is needed,
 * and none is paid for: starting Node's hooks thread costs ~70 ms.
 */
function resolvesToThisCopy(file: string): boolean {
  // From source, a self-reference would pick dist/ unless the process set the source condition.
  if (FROM_SOURCE) return false;
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    if (dir === PACKAGE_ROOT) return true;
    const installed = join(dir, "node_modules", PACKAGE_NAME);
    if (existsSync(installed)) return realpathSync(installed) === PACKAGE_ROOT;
    if (dirname(dir) === dir) return false;
  }
}

function typescriptLoader(): Promise<(url: string) => Promise<unknown>> {
  typescript ??= (async () => {
    const [{ register: registerTsx }] = await Promise.all([
      import("tsx/esm/api"),
      import(runtime), // before any hook: see linkRuntime
    ]);
    // A namespace scopes tsx to the graphs imported through it: weft's own modules
    // and its dependencies never go through tsx, only the user's files and theirs.
    const tsx = registerTsx({ namespace: PACKAGE_NAME });
    await linkRuntime();
    return (url: string) => tsx.import(url, import.meta.url);
  })();
  return typescript;
}

const imported = new Map<string, Promise<Record<string, unknown>>>();

async function load(url: string): Promise<Record<string, unknown>> {
  const file = fileURLToPath(url);
  if (TYPESCRIPT.test(file)) {
    const viaTsx = await typescriptLoader();
    return (await viaTsx(url)) as Record<string, unknown>;
  }
  if (!resolvesToThisCopy(file)) await linkRuntime();
  return (await import(url)) as Record<string, unknown>;
}

/**
 * Imports a user's module (a flow file) by file URL, once per process:
 * TypeScript through tsx, scoped to that file and what it imports; JavaScript
 * as it is. Either way its `weftflow` is this copy of weft.
 */
export function importUserModule(url: string): Promise<Record<string, unknown>> {
  let namespace = imported.get(url);
  if (namespace === undefined) {
    namespace = load(url);
    imported.set(url, namespace);
    namespace.catch(() => imported.delete(url));
  }
  return namespace;
}

/**
 * Whether the module at `url` exports `value` (a flow defined in it). The
 * module may be in this process twice: as {@link importUserModule} loaded it,
 * and as the program imported it itself (a script that imports its flows and
 * builds a storage); either counts.
 */
export async function isExportedBy(url: string, value: unknown): Promise<boolean> {
  const ours = imported.get(url);
  if (ours !== undefined && Object.values(await ours).includes(value)) return true;
  try {
    return Object.values((await import(url)) as Record<string, unknown>).includes(value);
  } catch {
    return false;
  }
}
