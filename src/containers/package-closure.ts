/**
 * The installed npm packages some code needs, found the way Node finds them (each `node_modules`
 * from the requiring package's directory up), and laid out again under one directory of an
 * image so that Node, there, finds the same copy of each. Nothing is downloaded: the packages
 * come from this machine's node_modules (npm's and yarn's nested layout; a package reached
 * through a link is read where the link points).
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { basename, dirname, join, posix } from "node:path";
import { WeftError } from "../core/errors.ts";

/** One package of a closure: where it is here and where it goes. */
export interface PlacedPackage {
  /** The package's name (`@scope/name` included). */
  readonly name: string;
  /** Its directory on this machine (links resolved). */
  readonly dir: string;
  /** Its place relative to the closure's root in the image, e.g. `node_modules/a/node_modules/b`. */
  readonly at: string;
}

/** Options of {@link packageClosure}. */
export interface PackageClosureOptions {
  /** Packages that the image provides otherwise (weft itself): neither copied nor followed. @default [] */
  provided?: readonly string[];
  /** Who needs these packages, for error messages. @default "the flow" */
  requiredBy?: string;
}

interface Manifest {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

/**
 * The packages `names` need, resolved from `fromDir` as Node resolves them, with everything
 * they depend on (dependencies, and optional and peer dependencies that are installed). Each
 * package directory is copied once; a second version of a name goes beside the package that
 * needs it, as npm does. Sorted by place.
 */
export function packageClosure(
  fromDir: string,
  names: readonly string[],
  options: PackageClosureOptions = {},
): PlacedPackage[] {
  const provided = new Set(options.provided ?? []);
  const placed = new Map<string, string>(); // image place → real dir
  const result: PlacedPackage[] = [];
  type Want = { name: string; hostFrom: string; imageFrom: string; optional: boolean; by: string };
  const queue: Want[] = names.map((name) => ({
    name,
    hostFrom: realpathSync(fromDir),
    imageFrom: "",
    optional: false,
    by: options.requiredBy ?? "the flow",
  }));
  for (let i = 0; i < queue.length; i++) {
    const want = queue[i] as Want;
    if (provided.has(want.name)) continue;
    const found = findPackage(want.hostFrom, want.imageFrom, want.name);
    if (found === undefined) {
      if (want.optional) continue;
      throw new WeftError(
        "CONTAINER_BUILD_FAILED",
        `package ${want.name}, needed by ${want.by}, is not installed (looked in node_modules from ${want.hostFrom} up)`,
        {
          hint: `install it where the image is built (npm install ${want.name}); images take packages from this machine's node_modules, never from the network`,
        },
      );
    }
    const real = realpathSync(found.host);
    const seen = findImagePackage(placed, want.imageFrom, want.name);
    if (seen !== undefined && placed.get(seen) === real) continue;
    // The place it has here (the image mirrors node_modules), else beside the package needing it.
    const at = [found.at, posix.join(want.imageFrom, "node_modules", want.name)].find((place) => {
      if (placed.has(place)) return false;
      placed.set(place, real);
      if (findImagePackage(placed, want.imageFrom, want.name) === place) return true;
      placed.delete(place);
      return false;
    });
    if (at === undefined) {
      throw new WeftError(
        "CONTAINER_BUILD_FAILED",
        `two versions of ${want.name} need the same place in the image (needed by ${want.by})`,
        {
          hint: `reinstall so that one version of ${want.name} is shared (npm dedupe), or declare it in your package.json`,
        },
      );
    }
    result.push({ name: want.name, dir: real, at });
    const manifest = readManifest(real);
    const deps = (record: Record<string, string> | undefined, optional: boolean) => {
      for (const name of Object.keys(record ?? {}).sort()) {
        queue.push({ name, hostFrom: real, imageFrom: at, optional, by: want.name });
      }
    };
    deps(manifest.dependencies, false);
    deps(manifest.optionalDependencies, true);
    deps(manifest.peerDependencies, true);
  }
  return result.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
}

/**
 * The package a module in `hostFrom` loads by `name` (Node's walk up through node_modules), and
 * the place it takes in the image, where `imageFrom` mirrors `hostFrom`: the walk goes up both
 * together, and host directories above the image's root all map to its root.
 */
function findPackage(
  hostFrom: string,
  imageFrom: string,
  name: string,
): { host: string; at: string } | undefined {
  let image = imageFrom;
  for (let dir = hostFrom; ; dir = dirname(dir)) {
    if (basename(dir) !== "node_modules") {
      const candidate = join(dir, "node_modules", name);
      if (existsSync(join(candidate, "package.json"))) {
        return { host: candidate, at: posix.join(image, "node_modules", name) };
      }
    }
    if (dirname(dir) === dir) return undefined;
    image = image === "" ? "" : posix.dirname(image) === "." ? "" : posix.dirname(image);
  }
}

function findImagePackage(
  placed: ReadonlyMap<string, string>,
  fromDir: string,
  name: string,
): string | undefined {
  for (let dir = fromDir; ; dir = posix.dirname(dir)) {
    if (posix.basename(dir) !== "node_modules") {
      const candidate = posix.join(dir === "." ? "" : dir, "node_modules", name);
      if (placed.has(candidate)) return candidate;
    }
    if (dir === "" || dir === "." || dir === "/") return undefined;
  }
}

function readManifest(dir: string): Manifest {
  try {
    return JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as Manifest;
  } catch (error) {
    throw new WeftError(
      "CONTAINER_BUILD_FAILED",
      `cannot read ${join(dir, "package.json")}: ${(error as Error).message}`,
      { cause: error },
    );
  }
}
