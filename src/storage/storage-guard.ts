import { WeftError } from "../core/errors.ts";
import type { Flow } from "../core/flow.ts";
import type { FlowRunner } from "../engine/flow-runner.ts";
import { assertNoCredentials } from "../serialization/credentials.ts";
import { checkLocation, type EnvRunner, type SerializedStorage, type Storage } from "./storage.ts";

/**
 * Wraps every storage implementation and enforces its lifecycle once: a flow
 * added in this process is built before it is loaded; a location names an
 * artifact inside the storage (no absolute path, no `..`); the JSON holds no credential.
 */
class StorageGuard implements Storage {
  private readonly unbuilt = new Set<string>();

  constructor(private readonly impl: Storage) {}

  get type(): string {
    return this.impl.type;
  }
  get name(): string {
    return this.impl.name;
  }
  get flows(): Readonly<Record<string, string>> {
    return this.impl.flows;
  }
  get labels(): string[] {
    return this.impl.labels;
  }
  get shareable(): boolean {
    return this.impl.shareable;
  }
  get remote(): boolean {
    return this.impl.remote;
  }
  get codeInImage(): boolean {
    return this.impl.codeInImage ?? false;
  }

  addFlow(flow: Flow<unknown>): string {
    const location = this.impl.addFlow(flow);
    this.unbuilt.add(location);
    return location;
  }

  contains(flow: Flow<unknown> | string): boolean {
    return this.impl.contains(flow);
  }

  async build(): Promise<Storage> {
    await this.impl.build();
    this.unbuilt.clear();
    return this;
  }

  async getRunner(location: string): Promise<FlowRunner> {
    this.check(location);
    return this.impl.getRunner(location);
  }

  getEnvRunner(location: string): EnvRunner {
    this.check(location);
    // The child receives this storage's JSON: it must hold no credential either.
    assertNoCredentials(this.impl.toJSON(), `${this.type} storage`);
    return this.impl.getEnvRunner(location);
  }

  workingDirectory(location: string): string | undefined {
    return this.impl.workingDirectory?.(location);
  }

  toJSON(): SerializedStorage {
    const json = this.impl.toJSON();
    assertNoCredentials(json, `${this.type} storage`);
    return json;
  }

  private check(location: string): void {
    checkLocation(location, `${this.type} storage ${this.name}`);
    if (this.unbuilt.has(location)) {
      throw new WeftError(
        "STORAGE_NOT_BUILT",
        `${this.type} storage ${this.name}: ${location} was added but not built yet`,
        {
          hint: "call storage.build() (weft build / weft register do) before loading the flow",
        },
      );
    }
  }
}

/** Wraps a storage implementation in the lifecycle guard (every factory returns a guarded storage). */
export function guardStorage(impl: Storage): Storage {
  return new StorageGuard(impl);
}
