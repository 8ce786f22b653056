// Every storage kind weft ships, by `type`. A kind's file holds all that weft
// knows of it (its `StorageKind`: JSON schema and constructor, command-line
// flags and constructor, capabilities); adding a kind is that file and one line here.
import { TypeRegistry } from "../serialization/registry.ts";
import { containerStorageKind } from "./container-storage.ts";
import { gitStorageKind } from "./git-storage.ts";
import { httpStorageKind } from "./http-storage.ts";
import { localStorageKind } from "./local-storage.ts";
import { memoryStorageKind } from "./memory-storage.ts";
import { moduleStorageKind } from "./module-storage.ts";
import { s3StorageKind } from "./s3-storage.ts";
import type { Storage, StorageCapabilities } from "./storage.ts";

/** `type` → the kind of every storage: its schema, constructors, flags and capabilities. */
export const storageRegistry = new TypeRegistry<Storage, StorageCapabilities>("storage");
storageRegistry.register(memoryStorageKind);
storageRegistry.register(localStorageKind);
storageRegistry.register(moduleStorageKind);
storageRegistry.register(s3StorageKind);
storageRegistry.register(gitStorageKind);
storageRegistry.register(httpStorageKind);
storageRegistry.register(containerStorageKind);

/**
 * Rebuilds a storage from its JSON (PIN-7's deserialize): refuses an unknown
 * `type` (listing the known ones), a malformed field (naming it) and a credential.
 */
export function storageFromJSON(json: unknown): Storage {
  return storageRegistry.fromJSON(json);
}

/**
 * Makes a storage of `kind` from loose options (command-line flags), checking
 * what each kind requires. Options not used by the kind are refused by name.
 */
export function createStorage(kind: string, options: Record<string, unknown> = {}): Storage {
  return storageRegistry.fromFlags(kind, options);
}
