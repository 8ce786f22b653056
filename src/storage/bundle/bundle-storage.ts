import { WeftError } from "../../core/errors.ts";
import type { Flow } from "../../core/flow.ts";
import { createFlowRunner, type FlowRunner } from "../../engine/flow-runner.ts";
import { isExportedBy } from "../../engine/user-modules.ts";
import { createEnvRunner } from "../env-runner.ts";
import {
  type EnvRunner,
  formatLocation,
  parseLocation,
  type SerializedStorage,
  type Storage,
} from "../storage.ts";
import { BundleCache } from "./bundle-cache.ts";
import { type Bundle, bundleFlowModule } from "./flow-bundler.ts";

/** Options every bundle-based storage takes. */
export interface BundleStorageOptions {
  /** Shown to people. @default derived from where the bundles go */
  name?: string;
  /** Where loaded bundles are cached and verified. @default $WEFT_HOME/cache */
  cacheDir?: string;
  /** Packages to leave out of bundles (they must be installed where flows run). @default [] */
  external?: string[];
  /** Flow name → location, as recorded by earlier builds. */
  flows?: Record<string, string>;
}

/**
 * The shared life of storages that keep bundles (local, s3, http): `addFlow`
 * bundles the flow's module and names it by content hash, `build` uploads what
 * was added, `getRunner` downloads into the cache, verifies and imports.
 * Subclasses only move bytes.
 */
export abstract class BundleStorage implements Storage {
  abstract readonly type: string;
  abstract readonly name: string;
  abstract readonly labels: string[];
  abstract readonly remote: boolean;
  readonly shareable = true;
  protected readonly cache: BundleCache;
  protected readonly external: string[];
  private readonly flowMap: Record<string, string>;
  private readonly pending = new Map<string, { bundle: Bundle; flows: Flow<unknown>[] }>();

  constructor(options: BundleStorageOptions) {
    this.cache = new BundleCache(options.cacheDir);
    this.external = options.external ?? [];
    this.flowMap = { ...(options.flows ?? {}) };
  }

  /** Puts a verified bundle where this storage keeps them. */
  protected abstract upload(file: string, code: string): Promise<void>;
  /** Fetches a bundle's code from where this storage keeps it. */
  protected abstract download(file: string): Promise<string>;
  /** The kind-specific part of the JSON. */
  protected abstract settings(): Record<string, unknown>;

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
    const bundle = bundleFlowModule(moduleUrl, { external: this.external });
    const entry = this.pending.get(bundle.file) ?? { bundle, flows: [] };
    entry.flows.push(flow);
    this.pending.set(bundle.file, entry);
    const location = formatLocation(bundle.file, flow.name);
    this.flowMap[flow.name] = location;
    return location;
  }

  contains(flow: Flow<unknown> | string): boolean {
    return Object.hasOwn(this.flowMap, typeof flow === "string" ? flow : flow.name);
  }

  async build(): Promise<Storage> {
    for (const [file, { bundle, flows }] of this.pending) {
      await checkExported(flows);
      this.cache.write(file, bundle.code, this.describe());
      await this.upload(file, bundle.code);
      this.pending.delete(file);
    }
    return this;
  }

  async getRunner(location: string): Promise<FlowRunner> {
    const { artifact, flowName } = parseLocation(location, this.describe());
    // A bundle this process already verified and imported is not read again (bundle-cache.ts).
    if (!this.cache.isImported(artifact) && this.cache.read(artifact) === undefined) {
      const code = await this.download(artifact);
      this.cache.write(artifact, code, `${this.describe()} ${artifact}`);
    }
    return createFlowRunner(await this.cache.load(artifact, flowName, this.describe()));
  }

  getEnvRunner(location: string): EnvRunner {
    return createEnvRunner(this, location);
  }

  toJSON(): SerializedStorage {
    return { type: this.type, schemaVersion: 1, ...this.settings(), flows: { ...this.flowMap } };
  }

  protected describe(): string {
    return `${this.type} storage ${this.name}`;
  }
}

/** A stored flow must be exported, or no other process could find it in the bundle. */
export async function checkExported(flows: readonly Flow<unknown>[]): Promise<void> {
  for (const flow of flows) {
    if (!(await isExportedBy(flow.moduleUrl!, flow))) {
      throw new WeftError(
        "STORAGE_FLOW_MISSING",
        `flow "${flow.name}" is not exported by ${flow.moduleUrl}`,
        {
          hint: `export it (export const … = flow("${flow.name}", …)) so that other processes can find it`,
        },
      );
    }
  }
}
