import { WeftError } from "../core/errors.ts";
import type { Flow } from "../core/flow.ts";
import { assertNoCredentials } from "./credentials.ts";
import { checkLocation } from "./locations.ts";
import { ENVIRONMENT_TYPES, STORAGE_TYPES } from "./schemas.ts";

/**
 * What serialization needs of a storage (the whole interface is `Storage` in
 * `storage/`): where a flow's code is kept. Public, so that a user's own storage
 * fits a flow's `storage` option.
 */
export interface FlowStorage {
  readonly type: string;
  readonly name: string;
  readonly labels: readonly string[];
  /** Another process on this machine can load the code. */
  readonly shareable: boolean;
  /** Another machine can load the code. */
  readonly remote: boolean;
  /**
   * The code loads only inside the storage's own container image (container storage), so only
   * an environment that runs images ({@link FlowEnvironment.runsImages}) can run it.
   */
  readonly codeInImage?: boolean;
  /** Records the flow and returns its location. */
  addFlow(flow: Flow<unknown>): string;
  /** Bundles and uploads what was added. */
  build(): Promise<FlowStorage>;
  toJSON(): { type: string; schemaVersion: number };
}

/** What serialization needs of an environment (the whole interface is `Environment` in `environments/`): how a run executes. */
export interface FlowEnvironment {
  readonly type: string;
  readonly labels: readonly string[];
  /**
   * What the environment needs of a storage: nothing (runs in the process that
   * has the flow), `shareable` (another process loads it) or `remote` (another machine does).
   */
  readonly storageNeeds: StorageNeed;
  /**
   * True when a task's retry may run in another process than its first attempt
   * (a distributed executor): its inputs must then be persisted results.
   */
  readonly retriesElsewhere?: boolean;
  /** True when it runs a flow in a container of the storage's image (container, Kubernetes). */
  readonly runsImages?: boolean;
  toJSON(): { type: string; schemaVersion: number };
}

/** What an environment needs of a storage, weakest first. */
export const STORAGE_NEEDS = ["none", "shareable", "remote"] as const;
/** One of {@link STORAGE_NEEDS}. */
export type StorageNeed = (typeof STORAGE_NEEDS)[number];

/**
 * Refuses an environment paired with a storage it cannot use (PIN-7 left this to
 * run time; weft refuses it when the flow is serialized or run), naming both.
 */
export function checkPairing(environment: FlowEnvironment, storage: FlowStorage): void {
  const refusal = pairingRefusal(environment, storage);
  if (refusal !== undefined) throw refusal;
}

/**
 * The error {@link checkPairing} throws for an unfit pair (STORAGE_NOT_SHAREABLE,
 * naming both), or undefined when the storage fits the environment.
 */
export function pairingRefusal(
  environment: FlowEnvironment,
  storage: FlowStorage,
): WeftError | undefined {
  if (storage.codeInImage === true && environment.runsImages !== true) {
    return new WeftError(
      "STORAGE_NOT_SHAREABLE",
      `${storage.type} storage ${storage.name} keeps its flows in a container image, which the ${environment.type} environment does not run`,
      { hint: "use the container environment (--environment container) with this storage" },
    );
  }
  const need = environment.storageNeeds;
  const fits =
    need === "none" ||
    (need === "shareable" && storage.shareable) ||
    (need === "remote" && storage.remote);
  if (fits) return undefined;
  const what = need === "remote" ? "another machine" : "another process";
  return new WeftError(
    "STORAGE_NOT_SHAREABLE",
    `the ${environment.type} environment runs flows in ${what}, which cannot load from ${storage.type} storage ${storage.name}`,
    {
      hint:
        need === "remote"
          ? "use s3, git, http or module storage"
          : "use local, module, s3, git or http storage (memory storage lives in one process)",
    },
  );
}

/** The part of a type registry (storages, environments) a deployment check uses. */
export interface KindRegistry {
  /** The registered type tags. */
  types(): string[];
  /** Refuses JSON whose type is unknown or whose fields do not match its type's schema. */
  validate(json: unknown, where?: string): void;
  /**
   * What a kind declares it can do; a deployment check reads `importsHostCode`
   * (a storage kind that imports code chosen by the registrant from the agent's host).
   */
  capabilities?(type: string): unknown;
}

/**
 * What a deployment may use. The server gets the registries from whoever
 * assembles it (the CLI), since the server part does not import storages or
 * environments; without them only the type tags weft ships are checked.
 */
export interface DeploymentRules {
  /** The storage registry: each storage's fields are checked against its kind's schema. */
  readonly storage?: KindRegistry;
  /** The environment registry, likewise. */
  readonly environment?: KindRegistry;
  /**
   * Accept module storage (every storage kind whose capabilities say
   * `importsHostCode`), which imports a module by path or package name on the
   * agent's host: whoever may register or claim such a flow chooses code that
   * agents import. @default false
   */
  readonly allowModuleStorage?: boolean;
}

/** The serialized pieces of a flow that say where its code is and how it runs. */
export interface Deployment {
  readonly name: string;
  readonly storage?: { readonly type: string } | undefined;
  readonly environment?: { readonly type: string } | undefined;
  readonly result?: unknown;
  readonly location?: string | undefined;
}

/**
 * Refuses a deployment an agent would refuse or should not run: an unknown
 * storage or environment type, fields its schema does not take, module storage
 * unless allowed, a location outside its storage, a credential in the settings.
 * One check for registration (the server) and deployment (the agent).
 */
export function checkDeployment(deployment: Deployment, rules: DeploymentRules = {}): void {
  const where = `flow ${JSON.stringify(deployment.name)}`;
  const { storage, environment } = deployment;
  if (storage !== undefined) {
    checkType(storage, "storage", rules.storage?.types() ?? [...STORAGE_TYPES], where);
    checkModuleStorage(
      storage,
      rules.allowModuleStorage === true,
      where,
      importsHostCode(rules.storage, storage.type),
    );
    assertNoCredentials(storage, `${where} storage`);
    rules.storage?.validate(storage, `${where} storage`);
  }
  if (environment !== undefined) {
    checkType(
      environment,
      "environment",
      rules.environment?.types() ?? [...ENVIRONMENT_TYPES],
      where,
    );
    assertNoCredentials(environment, `${where} environment`);
    rules.environment?.validate(environment, `${where} environment`);
  }
  if (deployment.result !== undefined) assertNoCredentials(deployment.result, `${where} result`);
  if (deployment.location !== undefined) checkLocation(deployment.location, where);
}

/**
 * Whether a storage kind imports code from the agent's host: its registry's
 * capabilities say so; without a registry, the kind weft ships that does (module).
 */
function importsHostCode(registry: KindRegistry | undefined, type: string): boolean {
  if (registry?.capabilities === undefined) return type === "module";
  const capabilities = registry.capabilities(type);
  return (
    typeof capabilities === "object" &&
    capabilities !== null &&
    "importsHostCode" in capabilities &&
    capabilities.importsHostCode === true
  );
}

/** Refuses a storage that imports code from the agent's host (module storage) unless `allowed` (MODULE_STORAGE_NOT_ALLOWED). */
export function checkModuleStorage(
  storage: { readonly type: string },
  allowed: boolean,
  where: string,
  hostCode: boolean = storage.type === "module",
): void {
  if (!hostCode || allowed) return;
  throw new WeftError(
    "MODULE_STORAGE_NOT_ALLOWED",
    `${where} uses ${storage.type} storage, which imports a module from the agent's host by path or package name; this server or agent does not allow it`,
    {
      hint: "start the server and the agents with --allow-module-storage (WEFT_ALLOW_MODULE_STORAGE=1) if everyone who may register flows may choose code for agents to import; otherwise use local, s3, git or http storage",
    },
  );
}

function checkType(
  json: { readonly type: string },
  kind: string,
  known: readonly string[],
  where: string,
): void {
  if (known.includes(json.type)) return;
  throw new WeftError(
    "UNKNOWN_TYPE",
    `${where} ${kind}.type: unknown ${kind} type ${JSON.stringify(json.type)} (known: ${known.join(", ")})`,
  );
}
