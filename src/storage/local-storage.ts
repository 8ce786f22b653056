import {
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  writeFileSync,
} from "node:fs";
import { hostname } from "node:os";
import { dirname, isAbsolute, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { WeftError } from "../core/errors.ts";
import type { Flow } from "../core/flow.ts";
import { weftHome } from "../core/home.ts";
import { BundleStorage, type BundleStorageOptions } from "./bundle/bundle-storage.ts";
import type { Storage } from "./storage.ts";
import {
  nameOption,
  parseLocation,
  STORAGE_NAME_FLAG,
  type StorageKind,
  stringOption,
} from "./storage.ts";
import { guardStorage } from "./storage-guard.ts";

/** Options of local storage. */
export interface LocalStorageOptions extends BundleStorageOptions {
  /** Where bundles are kept. @default $WEFT_HOME/flows */
  directory?: string;
  /** Label runs with this host's name, so only agents here take them (the directory is local). @default true */
  hostnameLabel?: boolean;
  /**
   * Flow name → its project directory, as recorded by earlier builds (`addFlow`
   * records the directory of the nearest package.json above the flow's file).
   */
  projects?: Record<string, string>;
}

/** The JSON of a local storage. */
export const localStorageSchema = z.strictObject({
  type: z.literal("local"),
  schemaVersion: z.literal(1),
  name: z.string().optional(),
  directory: z.string().min(1),
  hostnameLabel: z.boolean(),
  external: z.array(z.string()).optional(),
  /** Flow name → the absolute directory it was registered from (where it runs, when it exists). */
  projects: z
    .record(z.string(), z.string().min(1).refine(isAbsolute, "an absolute path"))
    .optional(),
  flows: z.record(z.string(), z.string()),
});

/** Bundles in a directory on this machine (or a directory every worker shares). */
class LocalStorage extends BundleStorage {
  readonly type = "local";
  readonly remote = false;
  readonly directory: string;
  readonly name: string;
  private readonly hostnameLabel: boolean;
  private readonly projects: Record<string, string>;

  constructor(options: LocalStorageOptions) {
    super(options);
    this.projects = { ...(options.projects ?? {}) };
    const dir = options.directory ?? join(weftHome(), "flows");
    this.directory = isAbsolute(dir) ? dir : resolve(dir);
    this.name = options.name ?? this.directory;
    this.hostnameLabel = options.hostnameLabel ?? true;
  }

  get labels(): string[] {
    return this.hostnameLabel ? [hostname()] : [];
  }

  override addFlow(flow: Flow<unknown>): string {
    const location = super.addFlow(flow);
    const project = flow.moduleUrl === undefined ? undefined : projectDirectory(flow.moduleUrl);
    if (project === undefined) delete this.projects[flow.name];
    else this.projects[flow.name] = project;
    return location;
  }

  workingDirectory(location: string): string | undefined {
    let flowName: string;
    try {
      flowName = parseLocation(location, this.describe()).flowName;
    } catch {
      return undefined;
    }
    return Object.hasOwn(this.projects, flowName) ? this.projects[flowName] : undefined;
  }

  protected async upload(file: string, code: string): Promise<void> {
    mkdirSync(this.directory, { recursive: true });
    const path = join(this.directory, file);
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, code);
    renameSync(tmp, path);
  }

  protected async download(file: string): Promise<string> {
    const path = join(this.directory, file);
    let real: string;
    let root: string;
    try {
      root = realpathSync(this.directory);
      real = realpathSync(path);
    } catch {
      throw new WeftError(
        "STORAGE_FLOW_MISSING",
        `${this.describe()}: bundle ${file} is not in ${this.directory}`,
        {
          hint: "was the flow built into this directory, on this machine?",
        },
      );
    }
    if (!real.startsWith(root + sep)) {
      throw new WeftError(
        "STORAGE_LOCATION_ESCAPE",
        `${this.describe()}: ${file} resolves outside the storage directory (to ${real})`,
      );
    }
    return readFileSync(real, "utf8");
  }

  protected settings(): Record<string, unknown> {
    return {
      ...(this.name === this.directory ? {} : { name: this.name }),
      directory: this.directory,
      hostnameLabel: this.hostnameLabel,
      ...(this.external.length ? { external: this.external } : {}),
      ...(Object.keys(this.projects).length ? { projects: { ...this.projects } } : {}),
    };
  }
}

/**
 * Keeps flows' bundles in a directory. Runs are labelled with this host's name
 * (turn off with `hostnameLabel: false` when every agent shares the directory).
 * @example
 * flow("etl", build, { storage: createLocalStorage({ directory: "/srv/weft/flows" }) })
 */
export function createLocalStorage(options: LocalStorageOptions = {}): Storage {
  return guardStorage(new LocalStorage(options));
}

/** Rebuilds a local storage from validated JSON. */
export function localStorageFromJSON(json: z.infer<typeof localStorageSchema>): Storage {
  return createLocalStorage({
    directory: json.directory,
    hostnameLabel: json.hostnameLabel,
    flows: json.flows,
    ...(json.name === undefined ? {} : { name: json.name }),
    ...(json.external === undefined ? {} : { external: json.external }),
    ...(json.projects === undefined ? {} : { projects: json.projects }),
  });
}

/** The local storage kind. */
export const localStorageKind: StorageKind<z.infer<typeof localStorageSchema>> = {
  type: "local",
  schema: localStorageSchema,
  create: localStorageFromJSON,
  capabilities: { shareable: true, remote: false },
  flags: {
    dir: { flag: "--dir <path>", help: "the directory (default $WEFT_HOME/flows)" },
    hostnameLabel: {
      flag: "--no-hostname-label",
      help: "do not label runs with this host's name",
    },
    name: STORAGE_NAME_FLAG,
  },
  fromFlags: (options) =>
    createLocalStorage({
      ...stringOption(options, "dir", "directory"),
      ...(options.hostnameLabel === false ? { hostnameLabel: false } : {}),
      ...nameOption(options),
    }),
};

/**
 * A flow module's project: the directory of the nearest package.json above
 * its file, else the file's own directory (undefined for a module that is not
 * a file).
 */
export function projectDirectory(moduleUrl: string): string | undefined {
  if (!moduleUrl.startsWith("file:")) return undefined;
  const own = dirname(fileURLToPath(moduleUrl));
  for (let dir = own; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) return own;
  }
}
