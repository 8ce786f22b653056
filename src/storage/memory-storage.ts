import { z } from "zod";
import { WeftError } from "../core/errors.ts";
import type { Flow } from "../core/flow.ts";
import { createFlowRunner, type FlowRunner } from "../engine/flow-runner.ts";
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

/** The JSON of a memory storage. */
export const memoryStorageSchema = z.strictObject({
  type: z.literal("memory"),
  schemaVersion: z.literal(1),
  name: z.string().min(1),
  flows: z.record(z.string(), z.string()),
});

const NOT_HERE =
  "a memory storage holds flows in the process that added them; another process cannot load them";

/** Flow objects held in this process: for tests and `weft run`. */
class MemoryStorage implements Storage {
  readonly type = "memory";
  readonly labels: string[] = [];
  readonly shareable = false;
  readonly remote = false;
  private readonly held = new Map<string, Flow<unknown>>();
  private readonly flowMap: Record<string, string>;

  constructor(
    readonly name: string,
    flows: Record<string, string>,
  ) {
    this.flowMap = { ...flows };
  }

  get flows(): Readonly<Record<string, string>> {
    return this.flowMap;
  }

  addFlow(flow: Flow<unknown>): string {
    const location = formatLocation("memory", flow.name);
    this.held.set(flow.name, flow);
    this.flowMap[flow.name] = location;
    return location;
  }

  contains(flow: Flow<unknown> | string): boolean {
    return Object.hasOwn(this.flowMap, typeof flow === "string" ? flow : flow.name);
  }

  async build(): Promise<Storage> {
    return this;
  }

  async getRunner(location: string): Promise<FlowRunner> {
    const { artifact, flowName } = parseLocation(location, `memory storage ${this.name}`);
    const flow = artifact === "memory" ? this.held.get(flowName) : undefined;
    if (flow === undefined) {
      throw new WeftError(
        "STORAGE_FLOW_MISSING",
        `memory storage ${this.name}: flow "${flowName}" is not held in this process (${NOT_HERE})`,
        {
          hint: "use local, module, s3, git or http storage for runs in another process",
        },
      );
    }
    return createFlowRunner(flow);
  }

  getEnvRunner(_location: string): EnvRunner {
    throw new WeftError("STORAGE_NOT_SHAREABLE", `memory storage ${this.name}: ${NOT_HERE}`, {
      hint: "use local, module, s3, git or http storage for runs in another process",
    });
  }

  toJSON(): SerializedStorage {
    return { type: this.type, schemaVersion: 1, name: this.name, flows: { ...this.flowMap } };
  }
}

/** Holds flows in this process (tests, `weft run`); it cannot be loaded anywhere else. */
export function createMemoryStorage(options: { name?: string } = {}): Storage {
  return guardStorage(new MemoryStorage(options.name ?? "memory", {}));
}

/** Rebuilds a memory storage from validated JSON (it holds no flow in a new process). */
export function memoryStorageFromJSON(json: z.infer<typeof memoryStorageSchema>): Storage {
  return guardStorage(new MemoryStorage(json.name, json.flows));
}

/** The memory storage kind. */
export const memoryStorageKind: StorageKind<z.infer<typeof memoryStorageSchema>> = {
  type: "memory",
  schema: memoryStorageSchema,
  create: memoryStorageFromJSON,
  capabilities: { shareable: false, remote: false },
  flags: { name: STORAGE_NAME_FLAG },
  fromFlags: (options) => createMemoryStorage(nameOption(options)),
};
