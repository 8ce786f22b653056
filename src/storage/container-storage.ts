/**
 * Container storage: flows kept in a container image built on the weftflow runtime image
 * (PIN-7's "flow stored in a container image"). `build()` bundles each added flow as the bundle
 * storages do, builds one image holding the bundles (see container/flow-image.ts for its layout),
 * tags it by content and, with a registry, pushes it and records its digest. The JSON names the
 * image (`repo@sha256:…` when pushed, else `repo:<content tag>`); a location names a bundle in
 * it. The code is loaded only inside a container of that image (`getRunner` there); elsewhere
 * `getEnvRunner(location).container` says which image and command run it.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { DEFAULT_BASE_IMAGE, FLOWS_DIR, RUNTIME_COMMAND } from "../containers/runtime-image.ts";
import { WeftError } from "../core/errors.ts";
import type { Flow } from "../core/flow.ts";
import { PACKAGE_NAME } from "../core/package.ts";
import { formatIssues } from "../core/task-options.ts";
import { createFlowRunner, type FlowRunner } from "../engine/flow-runner.ts";
import { codeVariables } from "../serialization/flow-run-protocol.ts";
import { BundleCache } from "./bundle/bundle-cache.ts";
import { checkExported } from "./bundle/bundle-storage.ts";
import { type Bundle, bundleFlowModule } from "./bundle/flow-bundler.ts";
import { projectDirectory } from "./local-storage.ts";
import {
  type EnvRunner,
  formatLocation,
  nameOption,
  parseLocation,
  type SerializedStorage,
  STORAGE_NAME_FLAG,
  type Storage,
  type StorageKind,
  stringOption,
} from "./storage.ts";
import { guardStorage } from "./storage-guard.ts";

/** Options of container storage. */
export interface ContainerStorageOptions {
  /** The image's repository (without tag); with `registry`, the path under it. @default "weft-flows" */
  imageName?: string;
  /**
   * A registry to push to (`host[:port][/namespace]`); the image is then named by digest and
   * any engine that reaches the registry can run it. Without one the image stays on the engine
   * that built it. @default none
   */
  registry?: string;
  /** The image to build on: node 20 or later on its PATH. @default "docker.io/library/node:20-slim" */
  baseImage?: string;
  /** The platform to build for (`linux/amd64`); packages are copied from this machine, so it must match it. @default the engine's */
  platform?: string;
  /**
   * Packages left out of the bundles and copied, with the packages they need, from the flow's
   * project node_modules into the image (native addons, packages loaded by name at run time).
   * @default []
   */
  external?: string[];
  /** Leave every `dependencies` entry of the flow's package.json external (copied, not bundled). @default false */
  packageDependencies?: boolean;
  /**
   * Files or directories to put in the image: image path (absolute, or relative to
   * /opt/weft-flows, the containers' working directory) → path where the image is built.
   * @default {}
   */
  extraFiles?: Record<string, string>;
  /** Shown to people. @default the image's repository */
  name?: string;
  /** The container engine that builds (not serialized). @default WEFT_CONTAINER_HOST, else Docker's or Podman's socket */
  containerHost?: string;
  /** The built image, as recorded by an earlier build. */
  image?: string;
  /** Flow name → location, as recorded by an earlier build. */
  flows?: Record<string, string>;
}

const IMAGE_NAME =
  /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const REGISTRY = /^[a-zA-Z0-9.-]+(?::\d+)?(?:\/[a-z0-9._-]+)*$/;
const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(?:\/[a-z0-9]+)?$/;

const settingsShape = {
  imageName: z
    .string()
    .regex(IMAGE_NAME, "a repository name: lowercase letters, digits, . _ - and /")
    .optional(),
  registry: z.string().regex(REGISTRY, "host[:port][/namespace]").optional(),
  baseImage: z.string().min(1).optional(),
  platform: z.string().regex(PLATFORM, "os/arch, e.g. linux/amd64").optional(),
  external: z.array(z.string().min(1)).optional(),
  packageDependencies: z.boolean().optional(),
  extraFiles: z.record(z.string().min(1), z.string().min(1)).optional(),
  name: z.string().min(1).optional(),
  image: z.string().min(1).optional(),
  flows: z.record(z.string(), z.string()).optional(),
};

const optionsSchema = z.strictObject({
  ...settingsShape,
  containerHost: z.string().min(1).optional(),
});

/** The JSON of a container storage: the image it built and how to build it again. */
export const containerStorageSchema = z.strictObject({
  type: z.literal("container"),
  schemaVersion: z.literal(1),
  ...settingsShape,
  flows: z.record(z.string(), z.string()),
});

type ResolvedContainerStorageOptions = Readonly<z.output<typeof optionsSchema>>;

/** An image lives on its engine; with a registry, wherever that registry is reachable. */
class ContainerStorage implements Storage {
  readonly type = "container";
  readonly shareable = true;
  /** Its code loads only inside its image (the container environment runs that). */
  readonly codeInImage = true;
  readonly name: string;
  private readonly flowMap: Record<string, string>;
  private image: string | undefined;
  /** Bundles added in this process (the next image holds all of them), by file. */
  private readonly bundles = new Map<
    string,
    { bundle: Bundle; flows: Flow<unknown>[]; project: string }
  >();
  private dirty = false;

  constructor(private readonly options: ResolvedContainerStorageOptions) {
    this.flowMap = { ...(options.flows ?? {}) };
    this.image = options.image;
    this.name = options.name ?? this.repository();
  }

  /** Another machine can run the flows when the image is pushed to a registry. */
  get remote(): boolean {
    return this.options.registry !== undefined;
  }

  /** An image that is not pushed exists only on this machine's engine: runs stay here. */
  get labels(): string[] {
    return this.remote ? [] : [hostname()];
  }

  get flows(): Readonly<Record<string, string>> {
    return this.flowMap;
  }

  addFlow(flow: Flow<unknown>): string {
    const moduleUrl = flow.moduleUrl;
    if (moduleUrl === undefined) {
      throw new WeftError(
        "BUNDLE_FAILED",
        `flow "${flow.name}": the module that defines it is unknown, so its code cannot be stored`,
      );
    }
    const project = projectDirectory(moduleUrl) ?? process.cwd();
    const bundle = bundleFlowModule(moduleUrl, { external: this.externalOf(project) });
    const entry = this.bundles.get(bundle.file) ?? { bundle, flows: [], project };
    entry.flows.push(flow);
    this.bundles.set(bundle.file, entry);
    this.dirty = true;
    const location = formatLocation(bundle.file, flow.name);
    this.flowMap[flow.name] = location;
    return location;
  }

  contains(flow: Flow<unknown> | string): boolean {
    return Object.hasOwn(this.flowMap, typeof flow === "string" ? flow : flow.name);
  }

  async build(): Promise<Storage> {
    if (!this.dirty) return this;
    const platform = this.options.platform;
    if (platform !== undefined && platform !== hostPlatform()) {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `${this.describe()}: platform ${platform} is not this machine's (${hostPlatform()}); the image takes weft's packages from this machine`,
        { hint: `build on a ${platform} machine, or leave the platform out` },
      );
    }
    for (const { flows } of this.bundles.values()) await checkExported(flows);
    const packages = new Map<string, string[]>();
    for (const { bundle, project } of this.bundles.values()) {
      // Named externals are copied whatever the bundle says (code may load them by a computed
      // name); package.json dependencies only when the bundle imports them.
      const named = this.options.external ?? [];
      const external = this.externalOf(project).filter(
        (name) => named.includes(name) || usesPackage(bundle.code, name),
      );
      packages.set(project, [...new Set([...(packages.get(project) ?? []), ...external])]);
    }
    // Loaded here: a flow-run process (weft execute) reads this kind but never builds.
    const [{ ContainerEngine }, { ensureFlowImage }] = await Promise.all([
      import("../containers/engine.ts"),
      import("./container/flow-image.ts"),
    ]);
    const engine = new ContainerEngine(this.options.containerHost);
    const repository = this.repository();
    const { tag } = await ensureFlowImage(engine, {
      repository,
      baseImage: this.options.baseImage ?? DEFAULT_BASE_IMAGE,
      platform,
      bundles: new Map([...this.bundles].map(([file, { bundle }]) => [file, bundle.code])),
      packages,
      extraFiles: this.options.extraFiles ?? {},
      flowNames: [...this.bundles.values()].flatMap(({ flows }) => flows.map((f) => f.name)),
    });
    let image = tag;
    if (this.options.registry !== undefined) {
      const digest = await engine.push(tag);
      if (digest === undefined) {
        throw new WeftError(
          "CONTAINER_PUSH_FAILED",
          `${this.describe()}: the registry gave no digest for ${tag}`,
          { hint: "check the registry; weft names pushed images by digest" },
        );
      }
      image = `${repository}@${digest}`;
    }
    // The new image holds exactly the flows added in this process: others (from JSON) are not in it.
    const inImage = new Set(
      [...this.bundles.values()].flatMap(({ flows }) => flows.map((f) => f.name)),
    );
    for (const flowName of Object.keys(this.flowMap)) {
      if (!inImage.has(flowName)) delete this.flowMap[flowName];
    }
    this.image = image;
    this.dirty = false;
    return this;
  }

  async getRunner(location: string): Promise<FlowRunner> {
    const { artifact, flowName } = parseLocation(location, this.describe());
    const cache = new BundleCache(FLOWS_DIR);
    if (cache.read(artifact) === undefined) {
      throw new WeftError(
        "STORAGE_UNREACHABLE",
        `${this.describe()}: flow "${flowName}" is inside image ${this.image ?? "(not built)"} and runs only in a container of it`,
        {
          hint: "run it with the container environment (--environment container), or store it in local, s3, git or http storage to run it here",
        },
      );
    }
    return createFlowRunner(await cache.load(artifact, flowName, this.describe()));
  }

  getEnvRunner(location: string): EnvRunner {
    const image = this.image;
    if (image === undefined) {
      throw new WeftError(
        "STORAGE_NOT_BUILT",
        `${this.describe()}: no image was built for ${location}`,
        { hint: "call storage.build() (weft build / weft register do) before running the flow" },
      );
    }
    const describe = this.describe();
    return {
      env: codeVariables(this.toJSON(), location),
      container: { image, command: RUNTIME_COMMAND },
      start() {
        throw new WeftError(
          "STORAGE_NOT_SHAREABLE",
          `${describe}: the flow's code is inside image ${image}; it runs in a container, not in a process here`,
          { hint: "use the container environment (--environment container)" },
        );
      },
    };
  }

  toJSON(): SerializedStorage {
    const o = this.options;
    return {
      type: this.type,
      schemaVersion: 1,
      ...(o.imageName === undefined ? {} : { imageName: o.imageName }),
      ...(o.registry === undefined ? {} : { registry: o.registry }),
      ...(o.baseImage === undefined ? {} : { baseImage: o.baseImage }),
      ...(o.platform === undefined ? {} : { platform: o.platform }),
      ...(o.external?.length ? { external: [...o.external] } : {}),
      ...(o.packageDependencies ? { packageDependencies: true } : {}),
      ...(o.extraFiles && Object.keys(o.extraFiles).length
        ? { extraFiles: { ...o.extraFiles } }
        : {}),
      ...(o.name === undefined ? {} : { name: o.name }),
      ...(this.image === undefined ? {} : { image: this.image }),
      flows: { ...this.flowMap },
    };
  }

  /** `registry/imageName`, or `localhost/imageName` for an image that stays on its engine. */
  private repository(): string {
    const imageName = this.options.imageName ?? "weft-flows";
    if (this.options.registry !== undefined) return `${this.options.registry}/${imageName}`;
    const first = imageName.split("/")[0] ?? "";
    return imageName.includes("/") && (first.includes(".") || first === "localhost")
      ? imageName
      : `localhost/${imageName}`;
  }

  /** The packages bundles of `project` leave out: the option's, and its package.json's when asked. */
  private externalOf(project: string): string[] {
    const names = new Set(this.options.external ?? []);
    if (this.options.packageDependencies) {
      for (const name of Object.keys(readDependencies(project))) names.add(name);
    }
    names.delete(PACKAGE_NAME);
    return [...names].sort();
  }

  private describe(): string {
    return `container storage ${this.name}`;
  }
}

/** The `dependencies` of the package.json in `project` (none when it has none). */
function readDependencies(project: string): Record<string, string> {
  try {
    const manifest = JSON.parse(readFileSync(join(project, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    };
    return manifest.dependencies ?? {};
  } catch {
    return {};
  }
}

/** Whether a bundle imports `name` (or a path inside it): only packages a bundle uses are copied. */
function usesPackage(code: string, name: string): boolean {
  const quoted = [`"${name}"`, `'${name}'`, `"${name}/`, `'${name}/`];
  return quoted.some((q) => code.includes(q));
}

/** This machine as an OCI platform (`linux/amd64`). */
function hostPlatform(): string {
  const arch = {
    x64: "amd64",
    arm64: "arm64",
    arm: "arm",
    ia32: "386",
    ppc64: "ppc64le",
    s390x: "s390x",
  }[process.arch as string];
  return `${process.platform}/${arch ?? process.arch}`;
}

/**
 * Keeps flows in a container image built on the weftflow runtime image: the container
 * environment runs them there. Without `registry` the image stays on the engine that built it
 * (runs are labelled with this host's name); with one it is pushed and named by digest, so any
 * agent whose engine reaches the registry can run it.
 * @example
 * flow("etl", build, {
 *   storage: createContainerStorage({ imageName: "team/etl", registry: "registry.internal:5000" }),
 *   environment: createContainerEnvironment(),
 * })
 */
export function createContainerStorage(options: ContainerStorageOptions = {}): Storage {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new WeftError(
      "INVALID_ARGUMENT",
      `container storage: ${formatIssues(parsed.error, options, "option ")}`,
    );
  }
  return guardStorage(new ContainerStorage(parsed.data));
}

/** Rebuilds a container storage from validated JSON. */
export function containerStorageFromJSON(json: z.infer<typeof containerStorageSchema>): Storage {
  const { type: _type, schemaVersion: _version, ...options } = json;
  return guardStorage(new ContainerStorage(options));
}

/** The container storage kind. */
export const containerStorageKind: StorageKind<z.infer<typeof containerStorageSchema>> = {
  type: "container",
  schema: containerStorageSchema,
  create: containerStorageFromJSON,
  // Remote only when pushed (a registry is set): an image on one engine is for that machine.
  capabilities: { shareable: true, remote: false },
  flags: {
    imageName: {
      flag: "--image-name <repository>",
      help: "the image's repository (default weft-flows)",
    },
    registry: {
      flag: "--registry <host[:port][/namespace]>",
      help: "push the image there and name it by digest",
    },
    baseImage: {
      flag: "--base-image <image>",
      help: `the image to build on, with node 20+ (default ${DEFAULT_BASE_IMAGE})`,
    },
    platform: { flag: "--image-platform <os/arch>", help: "the platform to build for" },
    packageDependencies: {
      flag: "--package-dependencies",
      help: "copy the flow's package.json dependencies into the image instead of bundling them",
    },
    name: STORAGE_NAME_FLAG,
  },
  fromFlags: (options) =>
    createContainerStorage({
      ...stringOption(options, "imageName", "imageName"),
      ...stringOption(options, "registry", "registry"),
      ...stringOption(options, "baseImage", "baseImage"),
      ...stringOption(options, "platform", "platform"),
      ...(options.packageDependencies === true ? { packageDependencies: true } : {}),
      ...nameOption(options),
    }),
};
