/**
 * The weftflow runtime image: a Node base image plus this copy of weft (its `dist/`, `bin/`,
 * `package.json`) and its production dependencies, copied from this machine's node_modules, at
 * `/opt/weftflow`. Containers run flows with `RUNTIME_COMMAND` (`weft execute`, driven by the
 * flow-run protocol's variables). The image is tagged by content, so building it again with
 * nothing changed is a lookup, not a build; no network and no npm are needed.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Readable } from "node:stream";
import { WeftError } from "../core/errors.ts";
import { weftHome } from "../core/home.ts";
import { PACKAGE_NAME, PACKAGE_ROOT, packageVersion } from "../core/package.ts";
import { BuildContext } from "./build-context.ts";
import { withBuildLock } from "./build-lock.ts";
import { packageClosure } from "./package-closure.ts";

/** Where weft lives in the runtime image (and every image built on it). */
export const RUNTIME_DIR = "/opt/weftflow";

/** Where images built on the runtime image keep flows' code (container storage) and run them. */
export const FLOWS_DIR = "/opt/weft-flows";

/** The command that runs a flow in a container of the runtime image (its code variables say which). */
export const RUNTIME_COMMAND: readonly string[] = Object.freeze([
  "node",
  `${RUNTIME_DIR}/bin/weft.js`,
  "execute",
]);

/** The repository of runtime images; the tag is the content hash. */
export const RUNTIME_REPOSITORY = "localhost/weftflow-runtime";

/** A current official Node 20 slim image: the base when none is given. */
export const DEFAULT_BASE_IMAGE = "docker.io/library/node:20-slim";

/** The label every image weft builds carries: the weftflow version inside it. */
export const RUNTIME_LABEL = "io.weftflow.runtime";

/**
 * What building the runtime image needs of a container engine: weft's `ContainerEngine` has it.
 * Narrow on purpose, so that this public API does not carry the engine client's types.
 */
export interface ImageBuilder {
  /** The engine's address, for messages and to share one build per engine. */
  readonly host: string;
  /** The image's id, or undefined when the engine does not have it. */
  inspectImage(ref: string): Promise<{ readonly id: string } | undefined>;
  /** Pulls `ref`; IMAGE_NOT_FOUND when no registry has it. */
  pull(ref: string): Promise<void>;
  /** Builds a tar build context into `tag`; CONTAINER_BUILD_FAILED naming the step. */
  build(
    context: Readable,
    options: { tag: string; labels?: Record<string, string>; platform?: string },
  ): Promise<string>;
}

/** Options of {@link ensureRuntimeImage}. */
export interface RuntimeImageOptions {
  /** The image to build on: it must have `node` (20 or later) on its PATH. @default DEFAULT_BASE_IMAGE */
  baseImage?: string;
  /** The platform to build for, e.g. `linux/amd64`; native packages come from this machine, so it must match it. @default the engine's */
  platform?: string;
}

let weftContext: { context: BuildContext; hash: string } | undefined;

/**
 * The files of weft and its dependencies, under `weftflow/` of a context (computed once per
 * process: weft's files do not change under a running weft).
 */
export function runtimeFiles(): { context: BuildContext; hash: string } {
  if (weftContext !== undefined) return weftContext;
  if (!existsSync(join(PACKAGE_ROOT, "dist", "cli.js"))) {
    throw new WeftError(
      "CONTAINER_BUILD_FAILED",
      `weft at ${PACKAGE_ROOT} is not built (dist/cli.js is missing), so the runtime image cannot hold it`,
      { hint: "run npm run build in the weftflow checkout" },
    );
  }
  const context = new BuildContext();
  addRuntime(context, "weftflow");
  weftContext = { context, hash: cachedHash(context) };
  return weftContext;
}

/**
 * `context.hash()`, remembered under $WEFT_HOME/cache by the context's fingerprint: each
 * `weft register` is a fresh process, and reading weft's ~100 MB of files to find that nothing
 * changed would cost it most of a warm build. The cache is best effort (unwritable: no cache).
 */
function cachedHash(context: BuildContext): string {
  const file = join(weftHome(), "cache", "runtime-image.json");
  const fingerprint = context.fingerprint();
  try {
    const cached = JSON.parse(readFileSync(file, "utf8")) as {
      fingerprint?: unknown;
      hash?: unknown;
    };
    if (cached.fingerprint === fingerprint && typeof cached.hash === "string") return cached.hash;
  } catch {
    // absent or unreadable: hashed below
  }
  const hash = context.hash();
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ fingerprint, hash }));
    renameSync(tmp, file);
  } catch {
    // a read-only home: every process hashes
  }
  return hash;
}

/** Adds weft and its production dependency closure to `context` under `at`. */
export function addRuntime(context: BuildContext, at: string): void {
  context.addFile(`${at}/package.json`, join(PACKAGE_ROOT, "package.json"));
  context.addTree(`${at}/bin`, join(PACKAGE_ROOT, "bin"));
  context.addTree(`${at}/dist`, join(PACKAGE_ROOT, "dist"), {
    exclude: (path) => path.endsWith(".map"),
  });
  const manifest = JSON.parse(readFileSync(join(PACKAGE_ROOT, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  const names = Object.keys(manifest.dependencies ?? {}).sort();
  for (const pkg of packageClosure(PACKAGE_ROOT, names, {
    provided: [PACKAGE_NAME],
    requiredBy: PACKAGE_NAME,
  })) {
    context.addTree(`${at}/${pkg.at}`, pkg.dir, {
      exclude: (path, isDirectory) => isDirectory && path.split("/").at(-1) === "node_modules",
    });
  }
}

/** The Dockerfile of the runtime image. */
function runtimeDockerfile(baseImage: string, version: string): string {
  return [
    `FROM ${baseImage}`,
    `COPY weftflow ${RUNTIME_DIR}`,
    "ENV NODE_ENV=production",
    `LABEL ${RUNTIME_LABEL}="${version}"`,
    "",
  ].join("\n");
}

const building = new Map<string, Promise<string>>();

/**
 * Makes sure the engine has the runtime image for `baseImage` and answers its tag,
 * `localhost/weftflow-runtime:<content hash>`. The hash covers weft's files, its dependencies,
 * the base image's id and the platform, so the same content gives the same tag and no rebuild.
 * A base image the engine lacks is pulled (IMAGE_NOT_FOUND naming it when none has it).
 * @example
 * const image = await ensureRuntimeImage(new ContainerEngine(), { baseImage: "node:20-slim" });
 * // run [...RUNTIME_COMMAND] in `image` with the flow's code variables
 */
export async function ensureRuntimeImage(
  engine: ImageBuilder,
  options: RuntimeImageOptions = {},
): Promise<string> {
  const baseImage = options.baseImage ?? DEFAULT_BASE_IMAGE;
  const baseId = await ensureBaseImage(engine, baseImage);
  const { context, hash } = runtimeFiles();
  const dockerfile = runtimeDockerfile(baseImage, packageVersion());
  const tag = `${RUNTIME_REPOSITORY}:${contentTag([hash, dockerfile, baseId, options.platform ?? ""])}`;
  const key = `${engine.host} ${tag}`;
  let pending = building.get(key);
  if (pending === undefined) {
    pending = (async () => {
      if (await engine.inspectImage(tag)) return tag;
      // Another process on this machine may be building the same content: wait for it.
      return withBuildLock(key, async () => {
        if (await engine.inspectImage(tag)) return tag;
        const withDockerfile = new BuildContext()
          .include(context)
          .addData("Dockerfile", dockerfile);
        await engine.build(withDockerfile.stream(), {
          tag,
          labels: { [RUNTIME_LABEL]: packageVersion() },
          ...(options.platform ? { platform: options.platform } : {}),
        });
        return tag;
      });
    })();
    building.set(key, pending);
    pending.then(
      () => building.delete(key),
      () => building.delete(key),
    );
  }
  return pending;
}

/** The base image's id, pulling it first when the engine does not have it. */
export async function ensureBaseImage(engine: ImageBuilder, baseImage: string): Promise<string> {
  const found = await engine.inspectImage(baseImage);
  if (found) return found.id;
  await engine.pull(baseImage);
  const pulled = await engine.inspectImage(baseImage);
  if (!pulled) {
    throw new WeftError("IMAGE_NOT_FOUND", `base image ${baseImage} is not on the engine`, {
      hint: "pull or build it first, or choose another base image",
    });
  }
  return pulled.id;
}

/** A tag naming content: 32 hex characters of the SHA-256 of the parts. */
export function contentTag(parts: readonly string[]): string {
  return createHash("sha256").update(parts.join("\0")).digest("hex").slice(0, 32);
}
