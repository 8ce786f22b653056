import { createRequire } from "node:module";
import { isAbsolute, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { WeftError } from "../core/errors.ts";
import type { Flow } from "../core/flow.ts";
import { flowsOfModule } from "../engine/flow-loader.ts";
import { createFlowRunner, type FlowRunner } from "../engine/flow-runner.ts";
import { importUserModule } from "../engine/user-modules.ts";
import { createEnvRunner } from "./env-runner.ts";
import {
  type EnvRunner,
  formatLocation,
  nameOption,
  parseLocation,
  type SerializedStorage,
  STORAGE_NAME_FLAG,
  type Storage,
  type StorageKind,
} from "./storage.ts";
import { guardStorage } from "./storage-guard.ts";

/** Options of module storage. */
export interface ModuleStorageOptions {
  /** A package specifier (`@acme/flows/etl`) or a file path, importable where flows run. */
  module: string;
  /** Where a relative path or package is resolved from. @default the current directory */
  basedir?: string;
  name?: string;
  flows?: Record<string, string>;
}

/** The JSON of a module storage. */
export const moduleStorageSchema = z.strictObject({
  type: z.literal("module"),
  schemaVersion: z.literal(1),
  name: z.string().optional(),
  module: z.string().min(1),
  basedir: z.string().min(1),
  flows: z.record(z.string(), z.string()),
});

/** Code already installed where flows run: nothing is uploaded, `build` checks that it imports. */
class ModuleStorage implements Storage {
  readonly type = "module";
  readonly labels: string[] = [];
  readonly shareable = true;
  readonly remote = true;
  readonly name: string;
  private readonly flowMap: Record<string, string>;

  constructor(
    readonly module: string,
    readonly basedir: string,
    name: string | undefined,
    flows: Record<string, string>,
  ) {
    this.name = name ?? module;
    this.flowMap = { ...flows };
  }

  get flows(): Readonly<Record<string, string>> {
    return this.flowMap;
  }

  addFlow(flow: Flow<unknown>): string {
    // The specifier may be an absolute path: it lives in the JSON, not in the location.
    const location = formatLocation("module", flow.name);
    this.flowMap[flow.name] = location;
    return location;
  }

  contains(flow: Flow<unknown> | string): boolean {
    return Object.hasOwn(this.flowMap, typeof flow === "string" ? flow : flow.name);
  }

  async build(): Promise<Storage> {
    const flows = await this.importFlows();
    for (const name of Object.keys(this.flowMap)) {
      if (!flows.some((f) => f.name === name)) {
        throw new WeftError(
          "STORAGE_FLOW_MISSING",
          `module storage: ${this.module} exports no flow named "${name}"`,
        );
      }
    }
    return this;
  }

  async getRunner(location: string): Promise<FlowRunner> {
    const { artifact, flowName } = parseLocation(location, `module storage ${this.name}`);
    if (artifact !== "module") {
      throw new WeftError(
        "STORAGE_LOCATION_INVALID",
        `module storage ${this.name}: location ${location} is not module#<flow name>`,
      );
    }
    const flow = (await this.importFlows()).find((f) => f.name === flowName);
    if (flow === undefined) {
      throw new WeftError(
        "STORAGE_FLOW_MISSING",
        `module storage: ${this.module} exports no flow named "${flowName}"`,
      );
    }
    return createFlowRunner(flow);
  }

  getEnvRunner(location: string): EnvRunner {
    return createEnvRunner(this, location);
  }

  toJSON(): SerializedStorage {
    return {
      type: this.type,
      schemaVersion: 1,
      ...(this.name === this.module ? {} : { name: this.name }),
      module: this.module,
      basedir: this.basedir,
      flows: { ...this.flowMap },
    };
  }

  private async importFlows(): Promise<Flow<unknown>[]> {
    const url = this.resolveModule();
    let namespace: Record<string, unknown>;
    try {
      namespace = await importUserModule(url);
    } catch (error) {
      throw new WeftError(
        "FLOW_MODULE_IMPORT_FAILED",
        `module storage: importing ${this.module} failed: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    return flowsOfModule(namespace, this.module);
  }

  private resolveModule(): string {
    const spec = this.module;
    if (spec.startsWith(".") || isAbsolute(spec))
      return pathToFileURL(resolve(this.basedir, spec)).href;
    try {
      return pathToFileURL(createRequire(join(this.basedir, "noop.js")).resolve(spec)).href;
    } catch (error) {
      throw new WeftError(
        "FLOW_MODULE_NOT_FOUND",
        `module storage: cannot resolve ${spec} from ${this.basedir}: ${(error as Error).message}`,
        {
          hint: "install the package where flows run, or give a file path",
        },
      );
    }
  }
}

/**
 * Flows whose code is installed where they run (a package or a file path).
 * @example
 * createModuleStorage({ module: "@acme/flows/etl" })
 */
export function createModuleStorage(options: ModuleStorageOptions): Storage {
  if (typeof options?.module !== "string" || options.module === "") {
    throw new WeftError(
      "INVALID_FLOW_OPTIONS",
      "module storage needs a module (a package specifier or a file path)",
    );
  }
  return guardStorage(
    new ModuleStorage(
      options.module,
      resolve(options.basedir ?? process.cwd()),
      options.name,
      options.flows ?? {},
    ),
  );
}

/** Rebuilds a module storage from validated JSON. */
export function moduleStorageFromJSON(json: z.infer<typeof moduleStorageSchema>): Storage {
  return createModuleStorage({
    module: json.module,
    basedir: json.basedir,
    flows: json.flows,
    ...(json.name === undefined ? {} : { name: json.name }),
  });
}

/** The module storage kind: it imports code from the agent's host, so servers and agents must allow it. */
export const moduleStorageKind: StorageKind<z.infer<typeof moduleStorageSchema>> = {
  type: "module",
  schema: moduleStorageSchema,
  create: moduleStorageFromJSON,
  capabilities: { shareable: true, remote: true, importsHostCode: true },
  flags: {
    module: {
      flag: "--module <specifier>",
      help: "the package or file path, importable where flows run",
      required: true,
    },
    name: STORAGE_NAME_FLAG,
  },
  fromFlags: (options) =>
    createModuleStorage({ module: options.module as string, ...nameOption(options) }),
};
