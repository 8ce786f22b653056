import { TypeRegistry } from "../serialization/registry.ts";
import { localStorageFromJSON, localStorageSchema } from "./local-storage.ts";
import { memoryStorageFromJSON, memoryStorageSchema } from "./memory-storage.ts";
import { moduleStorageFromJSON, moduleStorageSchema } from "./module-storage.ts";
import type { Storage } from "./storage.ts";

/** `type` → schema and constructor of every storage kind. */
export const storageRegistry = new TypeRegistry<Storage>("storage");
storageRegistry.register({
  type: "memory",
  schema: memoryStorageSchema,
  create: memoryStorageFromJSON,
});
storageRegistry.register({
  type: "local",
  schema: localStorageSchema,
  create: localStorageFromJSON,
});
storageRegistry.register({
  type: "module",
  schema: moduleStorageSchema,
  create: moduleStorageFromJSON,
});

/**
 * Rebuilds a storage from its JSON (PIN-7's deserialize): refuses an unknown
 * `type` (listing the known ones), a malformed field (naming it) and a credential.
 */
export function storageFromJSON(json: unknown): Storage {
  return storageRegistry.fromJSON(json);
}
