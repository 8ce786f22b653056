import type { ChildProcess, StdioOptions } from "node:child_process";
import type { Flow } from "../core/flow.ts";
import type { FlowRunner } from "../engine/flow-runner.ts";
import type { FlowStorage } from "../serialization/deployment.ts";
import type { KindFlag, RegistryEntry } from "../serialization/registry.ts";

import { STORAGE_TYPES } from "../serialization/schemas.ts";

/** The storage kinds weft ships (defined beside the schemas, where the server checks them too). */
export { STORAGE_TYPES };
/** One of {@link STORAGE_TYPES}. */
export type StorageType = (typeof STORAGE_TYPES)[number];

/** A storage as JSON: its kind, schema version and settings, never a secret. */
export interface SerializedStorage {
  readonly type: string;
  readonly schemaVersion: number;
  readonly [setting: string]: unknown;
}

/**
 * Where a flow's code is kept (PIN-7). A storage holds several flows; `addFlow`
 * records one and returns its location, `build` bundles and uploads, and
 * `getRunner` loads the code back (in this process) while `getEnvRunner` starts
 * `weft execute` elsewhere, driven by environment variables only.
 */
export interface Storage extends FlowStorage {
  /** Registry key, e.g. "local". */
  readonly type: string;
  /** A name for people, e.g. the directory or bucket. */
  readonly name: string;
  /** Flow name → location, for every flow added (or known from JSON). */
  readonly flows: Readonly<Record<string, string>>;
  /** Labels an agent must carry to load from here (e.g. the host name of a local directory). */
  readonly labels: string[];
  /** Whether another process on this machine can load the code (not `memory`). */
  readonly shareable: boolean;
  /** Whether another machine can load the code (s3, git, http, module). */
  readonly remote: boolean;
  addFlow(flow: Flow<unknown>): string;
  /** PIN-7's `__contains__`: a flow (or flow name) this storage holds. */
  contains(flow: Flow<unknown> | string): boolean;
  build(): Promise<Storage>;
  /** Loads the flow at `location` into this process. */
  getRunner(location: string): Promise<FlowRunner>;
  /** A way to run the flow at `location` in a fresh process, through `weft execute`. */
  getEnvRunner(location: string): EnvRunner;
  /**
   * The directory the flow at `location` was registered from (its project:
   * where relative paths in its code point), when the storage records one
   * (local storage does). Environments run the flow there when it exists.
   */
  workingDirectory?(location: string): string | undefined;
  toJSON(): SerializedStorage;
}

/** The image and command that run a flow inside a container (see {@link EnvRunner.container}). */
export interface EnvRunnerContainer {
  /** The image holding the flow's code and weft (`repo@sha256:…` or `repo:tag`). */
  readonly image: string;
  /** The command to run in it: `RUNTIME_COMMAND` (`node /opt/weftflow/bin/weft.js execute`). */
  readonly command: readonly string[];
}

/** How an {@link EnvRunner} starts its process. */
export interface EnvRunnerOptions {
  /** Variables added to the child's environment (e.g. WEFT_FLOW_RUN_ID, WEFT_PARAMETERS). */
  env?: Readonly<Record<string, string>>;
  /** Node flags for the child (e.g. --max-old-space-size=512). */
  execArgv?: readonly string[];
  cwd?: string;
  /** @default ["ignore", "pipe", "pipe"] */
  stdio?: StdioOptions;
  /** Start the child as the leader of its own process group (so its whole tree can be killed). @default false */
  detached?: boolean;
}

/**
 * Starts `weft execute` in a child process that learns everything from its
 * environment: WEFT_FLOW_LOCATION and WEFT_STORAGE (JSON), plus what the caller adds.
 */
export interface EnvRunner {
  /** The variables that tell the child what to load. */
  readonly env: Readonly<Record<string, string>>;
  /**
   * Set when the code lives in a container image (container storage): run `command` in
   * `image` with `env` (plus the run's variables) instead of calling `start`. `image` names
   * the image by digest when it was pushed (`repo@sha256:…`), else by its content tag, which
   * only the engine that built it has.
   */
  readonly container?: EnvRunnerContainer;
  start(options?: EnvRunnerOptions): ChildProcess;
}

export {
  checkLocation,
  formatLocation,
  type Location,
  parseLocation,
} from "../serialization/locations.ts";

/** What every storage of a kind can do, known from its type alone (e.g. when a flow is registered). */
export interface StorageCapabilities {
  /** Another process on this machine can load the code (every storage of the kind is `shareable`). */
  readonly shareable: boolean;
  /** Another machine can load the code (`remote`). */
  readonly remote: boolean;
  /**
   * Loading imports code chosen by whoever registers the flow from the agent's
   * host (by path or package name): servers and agents refuse the kind unless
   * allowed (module storage). @default false
   */
  readonly importsHostCode?: boolean;
}

/**
 * A storage kind: everything weft knows of it, in the kind's own file (type,
 * JSON schema and constructor, command-line flags and constructor, capabilities).
 * Adding a kind is that file and one line in `registry.ts`.
 */
export type StorageKind<J = never> = RegistryEntry<Storage, J, StorageCapabilities>;

/** `--storage-name`, which every storage kind takes. */
export const STORAGE_NAME_FLAG: KindFlag = {
  flag: "--storage-name <name>",
  help: "a name for the storage, shown to people",
};

/** `{ name }` when the flags named the storage. */
export function nameOption(options: Readonly<Record<string, unknown>>): { name?: string } {
  return typeof options.name === "string" ? { name: options.name } : {};
}

/** `{ [to]: value }` for a string flag that was given. */
export function stringOption<K extends string>(
  options: Readonly<Record<string, unknown>>,
  key: string,
  to: K,
): { [P in K]?: string } {
  const value = options[key];
  return (typeof value === "string" ? { [to]: value } : {}) as { [P in K]?: string };
}
