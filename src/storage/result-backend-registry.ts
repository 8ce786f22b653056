import type { ResultBackend } from "../core/results.ts";
import {
  localResultBackendFromJSON,
  localResultBackendSchema,
} from "../engine/results/local-result-backend.ts";
import {
  s3ResultBackendFromJSON,
  s3ResultBackendSchema,
} from "../engine/results/s3-result-backend.ts";
import { TypeRegistry } from "../serialization/registry.ts";

/**
 * `type` → schema and constructor of every result backend kind. It lives with
 * storage because it needs both the engine (the backends) and serialization.
 */
export const resultBackendRegistry = new TypeRegistry<ResultBackend>("result");
resultBackendRegistry.register({
  type: "local",
  schema: localResultBackendSchema,
  create: localResultBackendFromJSON,
});
resultBackendRegistry.register({
  type: "s3",
  schema: s3ResultBackendSchema,
  create: s3ResultBackendFromJSON,
});

/** Rebuilds a result backend from its JSON, refusing an unknown type or a malformed field. */
export function resultBackendFromJSON(json: unknown): ResultBackend {
  return resultBackendRegistry.fromJSON(json);
}
