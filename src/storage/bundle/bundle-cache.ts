import {
  mkdirSync,
  readFileSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { WeftError } from "../../core/errors.ts";
import type { Flow } from "../../core/flow.ts";
import { weftHome } from "../../core/home.ts";
import { PACKAGE_NAME, PACKAGE_ROOT } from "../../core/package.ts";
import { flowsOfModule } from "../../engine/flow-loader.ts";
import { sha256 } from "./flow-bundler.ts";

const BUNDLE_FILE = /^[0-9a-f]{64}\.mjs$/;

/**
 * Bundles this process imported, by absolute path: Node caches a module by its URL, so once
 * one was verified and imported, the code that runs is that verified code whatever the
 * file holds later. Shared by every cache (a storage rebuilt from JSON per run makes a new
 * one), so an agent reads and hashes a bundle once per process, not once per run.
 */
const imported = new Map<string, Promise<Record<string, unknown>>>();

/** The default cache directory: `$WEFT_HOME/cache`. */
export function defaultCacheDir(): string {
  return join(weftHome(), "cache");
}

/**
 * Verified bundles on local disk, ready to import. The cache root holds a
 * `node_modules/weftflow` link to the running weft, so a bundle's `import … from
 * "weftflow"` resolves (by Node's own rules) to the weft of the process loading it.
 *
 * Decisions: a bundle is named by the hash of its code and verified (read and hashed)
 * before this process imports it, once per process and path. Later runs reuse the
 * imported module without reading the file: Node would not read it again either (its
 * module cache is keyed by URL), so what runs is always the verified code. A file changed
 * after that is noticed by the next process that reads it (a new agent, a `weft execute`
 * child), which removes the corrupt entry and fetches the bundle again.
 */
export class BundleCache {
  readonly bundlesDir: string;

  constructor(readonly root: string = defaultCacheDir()) {
    this.bundlesDir = join(root, "bundles");
  }

  /** The local path of a bundle (it may not exist). */
  pathOf(file: string): string {
    if (!BUNDLE_FILE.test(file)) {
      throw new WeftError(
        "STORAGE_LOCATION_INVALID",
        `${JSON.stringify(file)} is not a bundle name (<sha256>.mjs)`,
      );
    }
    return join(this.bundlesDir, file);
  }

  /** True when this process already imported the verified bundle (no need to read it again). */
  isImported(file: string): boolean {
    return imported.has(this.pathOf(file));
  }

  /** The verified code of a cached bundle, or undefined when absent; a corrupt entry is removed. */
  read(file: string): string | undefined {
    const path = this.pathOf(file);
    let code: string;
    try {
      code = readFileSync(path, "utf8");
    } catch {
      return undefined;
    }
    if (sha256(code) !== file.slice(0, 64)) {
      rmSync(path, { force: true });
      return undefined;
    }
    return code;
  }

  /** Stores `code` as `file` after checking that its hash matches the name. */
  write(file: string, code: string, source: string): void {
    const path = this.pathOf(file);
    if (sha256(code) !== file.slice(0, 64)) {
      throw new WeftError(
        "STORAGE_HASH_MISMATCH",
        `${source}: bundle ${file} does not match its hash; refused`,
        {
          hint: "the artifact was changed or corrupted after it was built; build the flow again",
        },
      );
    }
    mkdirSync(this.bundlesDir, { recursive: true });
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, path);
  }

  /** Imports a cached bundle (once per process) and returns the flow named `flowName`. */
  async load(file: string, flowName: string, source: string): Promise<Flow<unknown>> {
    const path = this.pathOf(file);
    let loading = imported.get(path);
    if (loading === undefined) {
      if (this.read(file) === undefined) {
        throw new WeftError(
          "STORAGE_HASH_MISMATCH",
          `${source}: bundle ${file} is missing or corrupt in the cache`,
        );
      }
      ensureRuntimeLink(this.root);
      const started = import(pathToFileURL(path).href) as Promise<Record<string, unknown>>;
      loading = started;
      imported.set(path, started);
      started.catch(() => {
        if (imported.get(path) === started) imported.delete(path);
      });
    }
    let namespace: Record<string, unknown>;
    try {
      namespace = await loading;
    } catch (error) {
      throw new WeftError(
        "FLOW_MODULE_IMPORT_FAILED",
        `${source}: importing bundle ${file} failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    const flow = flowsOfModule(namespace, `${source} ${file}`).find((f) => f.name === flowName);
    if (flow === undefined) {
      const names = flowsOfModule(namespace, file).map((f) => f.name);
      throw new WeftError(
        "STORAGE_FLOW_MISSING",
        `${source}: bundle ${file} has no flow named "${flowName}"`,
        {
          hint: names.length ? `it exports: ${names.join(", ")}` : "it exports no flow",
        },
      );
    }
    return flow;
  }
}

/**
 * Points `<root>/node_modules/weft` at the running weft (atomically replacing a
 * stale link), so that code stored under `root` resolves `weft` to this runtime.
 */
export function ensureRuntimeLink(root: string): void {
  const dir = join(root, "node_modules");
  const link = join(dir, PACKAGE_NAME);
  try {
    if (readlinkSync(link) === PACKAGE_ROOT) return;
  } catch {
    // absent or not a link: made below
  }
  mkdirSync(dir, { recursive: true });
  const tmp = `${link}.${process.pid}.${Date.now()}.tmp`;
  symlinkSync(PACKAGE_ROOT, tmp, "dir");
  try {
    renameSync(tmp, link);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw new WeftError(
      "STORAGE_BUILD_FAILED",
      `cannot link ${link} to this weft: ${(error as Error).message}`,
      {
        hint: `${link} must be a link weft manages; remove it (weft makes it again)`,
      },
    );
  }
}
