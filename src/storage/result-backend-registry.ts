// Every result backend kind weft ships, by `type`. A kind's file (engine/results/)
// holds all that weft knows of it (its `ResultBackendKind`: JSON schema and
// constructor, capabilities); adding a kind is that file and one line here. The
// registry lives with storage because it needs both the engine (the backends) and
// serialization (the registry).
import type { ResultBackend, ResultBackendCapabilities } from "../core/results.ts";
import { localResultBackendKind } from "../engine/results/local-result-backend.ts";
import { s3ResultBackendKind } from "../engine/results/s3-result-backend.ts";
import { TypeRegistry } from "../serialization/registry.ts";

/** `type` → the kind of every result backend: its schema, constructor and capabilities. */
export const resultBackendRegistry = new TypeRegistry<ResultBackend, ResultBackendCapabilities>(
  "result",
);
resultBackendRegistry.register(localResultBackendKind);
resultBackendRegistry.register(s3ResultBackendKind);

/** Rebuilds a result backend from its JSON, refusing an unknown type or a malformed field. */
export function resultBackendFromJSON(json: unknown): ResultBackend {
  return resultBackendRegistry.fromJSON(json);
}
