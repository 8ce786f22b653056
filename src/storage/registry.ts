import { TypeRegistry } from "../serialization/registry.ts";
import { gitStorageFromJSON, gitStorageSchema } from "./git-storage.ts";
import { httpStorageFromJSON, httpStorageSchema } from "./http-storage.ts";
import { localStorageFromJSON, localStorageSchema } from "./local-storage.ts";
import { memoryStorageFromJSON, memoryStorageSchema } from "./memory-storage.ts";
import { moduleStorageFromJSON, moduleStorageSchema } from "./module-storage.ts";
import { s3StorageFromJSON, s3StorageSchema } from "./s3-storage.ts";
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
storageRegistry.register({ type: "s3", schema: s3StorageSchema, create: s3StorageFromJSON });
storageRegistry.register({ type: "git", schema: gitStorageSchema, create: gitStorageFromJSON });
storageRegistry.register({ type: "http", schema: httpStorageSchema, create: httpStorageFromJSON });

/**
 * Rebuilds a storage from its JSON (PIN-7's deserialize): refuses an unknown
 * `type` (listing the known ones), a malformed field (naming it) and a credential.
 */
export function storageFromJSON(json: unknown): Storage {
  return storageRegistry.fromJSON(json);
}
