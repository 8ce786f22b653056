/**
 * The image of a container storage: the weftflow runtime image plus the flows' bundles, the
 * npm packages the bundles leave external (copied from each flow's project node_modules), and
 * extra files. Its tag is its content: the same bundles, packages, files and settings on the same
 * runtime give the same tag, and an image the engine already has is not built again.
 *
 * Layout inside the image (the container's working directory is FLOWS_DIR):
 *   /opt/weftflow                          weft and its dependencies (the runtime image)
 *   /opt/weft-flows/bundles/<sha256>.mjs   one bundle per flow module (the location's artifact)
 *   /opt/weft-flows/node_modules/weftflow  a link to /opt/weftflow, so bundles import this weft
 *   /opt/weft-flows/node_modules/<pkg>     the flows' external packages
 */
import { lstatSync } from "node:fs";
import { posix, resolve } from "node:path";
import { BuildContext } from "../../containers/build-context.ts";
import type { ContainerEngine } from "../../containers/engine.ts";
import { packageClosure } from "../../containers/package-closure.ts";
import {
  contentTag,
  ensureRuntimeImage,
  FLOWS_DIR,
  RUNTIME_DIR,
  RUNTIME_LABEL,
} from "../../containers/runtime-image.ts";
import { WeftError } from "../../core/errors.ts";
import { PACKAGE_NAME, packageVersion } from "../../core/package.ts";

/** The label naming the flows an image holds (comma-separated). */
export const FLOWS_LABEL = "io.weftflow.flows";

/** What goes into a flow image. */
export interface FlowImageSpec {
  /** The repository to tag, e.g. `localhost/weft-flows` or `registry:5000/team/etl`. */
  readonly repository: string;
  readonly baseImage: string;
  readonly platform: string | undefined;
  /** Bundle file → its code. */
  readonly bundles: ReadonlyMap<string, string>;
  /** Project directory → the packages to copy from its node_modules. */
  readonly packages: ReadonlyMap<string, readonly string[]>;
  /** Image path (absolute, or relative to FLOWS_DIR) → host path (file or directory). */
  readonly extraFiles: Readonly<Record<string, string>>;
  /** The flows' names, for the label. */
  readonly flowNames: readonly string[];
}

/** The image's tag, and whether it had to be built. */
export interface FlowImage {
  readonly tag: string;
  readonly built: boolean;
}

/**
 * Builds the flow image unless the engine has it already (same content, same tag). Each step
 * that fails says which: the base image (IMAGE_NOT_FOUND), a package not installed, an extra
 * file missing, the engine's build (its step and output's tail).
 */
export async function ensureFlowImage(
  engine: ContainerEngine,
  spec: FlowImageSpec,
): Promise<FlowImage> {
  const runtime = await ensureRuntimeImage(engine, {
    baseImage: spec.baseImage,
    ...(spec.platform === undefined ? {} : { platform: spec.platform }),
  });
  const context = new BuildContext();
  const flowsAt = "weft-flows";
  context.addDirectory(flowsAt);
  for (const [file, code] of [...spec.bundles].sort(([a], [b]) => (a < b ? -1 : 1))) {
    context.addData(`${flowsAt}/bundles/${file}`, code);
  }
  context.addSymlink(`${flowsAt}/node_modules/${PACKAGE_NAME}`, RUNTIME_DIR);
  addPackages(context, flowsAt, spec.packages);
  const copies = addExtraFiles(context, spec.extraFiles);
  const dockerfile = [
    `FROM ${runtime}`,
    `COPY ${flowsAt} ${FLOWS_DIR}`,
    ...copies.map(([from, to]) => `COPY ${JSON.stringify([from, to])}`),
    `WORKDIR ${FLOWS_DIR}`,
    "",
  ].join("\n");
  const tag = `${spec.repository}:${contentTag([runtime, dockerfile, context.hash(), spec.platform ?? ""])}`;
  if (await engine.inspectImage(tag)) return { tag, built: false };
  context.addData("Dockerfile", dockerfile);
  await engine.build(context.stream(), {
    tag,
    labels: {
      [RUNTIME_LABEL]: packageVersion(),
      [FLOWS_LABEL]: [...spec.flowNames].sort().join(","),
    },
    ...(spec.platform === undefined ? {} : { platform: spec.platform }),
  });
  return { tag, built: true };
}

/** Copies each project's external packages (and what they need) under `at/node_modules`. */
function addPackages(
  context: BuildContext,
  at: string,
  packages: ReadonlyMap<string, readonly string[]>,
): void {
  const placed = new Map<string, string>(); // place → real dir
  for (const [project, names] of [...packages].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (names.length === 0) continue;
    for (const pkg of packageClosure(project, [...names].sort(), {
      provided: [PACKAGE_NAME],
      requiredBy: `the flows of ${project}`,
    })) {
      const before = placed.get(pkg.at);
      if (before === pkg.dir) continue;
      if (before !== undefined) {
        throw new WeftError(
          "CONTAINER_BUILD_FAILED",
          `flows of different projects need two copies of ${pkg.name} at ${pkg.at} (${before} and ${pkg.dir})`,
          { hint: "store flows of different projects in different container storages" },
        );
      }
      placed.set(pkg.at, pkg.dir);
      context.addTree(`${at}/${pkg.at}`, pkg.dir, {
        exclude: (path, isDirectory) => isDirectory && path.split("/").at(-1) === "node_modules",
      });
    }
  }
}

/** Adds the extra files under `extra/<n>` and answers the COPY lines' [from, to]. */
function addExtraFiles(
  context: BuildContext,
  extraFiles: Readonly<Record<string, string>>,
): [string, string][] {
  const copies: [string, string][] = [];
  const entries = Object.entries(extraFiles).sort(([a], [b]) => (a < b ? -1 : 1));
  entries.forEach(([target, source], n) => {
    const host = resolve(source);
    let isDirectory: boolean;
    try {
      isDirectory = lstatSync(host).isDirectory();
    } catch (error) {
      throw new WeftError(
        "CONTAINER_BUILD_FAILED",
        `extra file ${source} (for ${target} in the image) cannot be read: ${(error as Error).message}`,
        { cause: error, hint: "extra files are read from where the image is built" },
      );
    }
    const from = `extra/${n}`;
    if (isDirectory) context.addTree(from, host);
    else context.addFile(from, host);
    const to = posix.isAbsolute(target) ? target : posix.join(FLOWS_DIR, target);
    copies.push([from, isDirectory ? `${to}/` : to]);
  });
  return copies;
}
