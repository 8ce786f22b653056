import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** The npm package weft is published as (the product and its command are "weft"). */
export const PACKAGE_NAME = "weftflow";

/**
 * True when this copy of weft runs from its TypeScript source (the repository's
 * tests), false when it runs from the build in `dist/` (every installation).
 */
export const FROM_SOURCE = import.meta.url.endsWith(".ts");

/**
 * The root of this copy of weft: the directory of its package.json. Found by
 * walking up from this module, which sits at a different depth in `src/` and in
 * the bundled `dist/`.
 */
const found = findRoot(dirname(fileURLToPath(import.meta.url)));
export const PACKAGE_ROOT: string = found.dir;

function findRoot(start: string): { dir: string; version: string } {
  for (let dir = start; ; dir = dirname(dir)) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      const parsed = JSON.parse(readFileSync(manifest, "utf8")) as {
        name?: string;
        version: string;
      };
      if (parsed.name === PACKAGE_NAME) return { dir, version: parsed.version };
    }
    if (dirname(dir) === dir) {
      throw new Error(`${PACKAGE_NAME}: no package.json of ${PACKAGE_NAME} above ${start}`);
    }
  }
}

/** This copy's version, from its package.json (read once, when the root was found). */
export function packageVersion(): string {
  return found.version;
}

/** The `weft` command of this copy (`bin/weft.js`). */
export const WEFT_BIN = join(PACKAGE_ROOT, "bin", "weft.js");

/**
 * The URL of a module of this copy of weft by its source path under `src/`
 * without extension (`"index"`, `"engine/executors/worker-threads-worker"`): the
 * `.ts` file when running from source, else the build's entry of the same name
 * at the top of `dist/` (see scripts/build.js, which makes every such module an
 * entry point).
 */
export function moduleUrl(sourcePath: string): string {
  const file = FROM_SOURCE
    ? join(PACKAGE_ROOT, "src", `${sourcePath}.ts`)
    : join(PACKAGE_ROOT, "dist", `${sourcePath.slice(sourcePath.lastIndexOf("/") + 1)}.js`);
  return pathToFileURL(file).href;
}
