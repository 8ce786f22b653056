// Every environment kind weft ships, by `type`. A kind's file holds all that
// weft knows of it (its `EnvironmentKind`: JSON schema and constructor,
// constructor from command-line options, capabilities); adding a kind is that
// file and one line here.
import { TypeRegistry } from "../serialization/registry.ts";
import { distributedEnvironmentKind } from "./distributed/distributed-environment.ts";
import type {
  Environment,
  EnvironmentCapabilities,
  EnvironmentFlagOptions,
} from "./environment.ts";
import { localEnvironmentKind } from "./local-environment.ts";
import { subprocessEnvironmentKind } from "./subprocess/subprocess-environment.ts";

/** `type` → the kind of every environment: its schema, constructors and capabilities. */
export const environmentRegistry = new TypeRegistry<
  Environment,
  EnvironmentCapabilities,
  EnvironmentFlagOptions
>("environment");
environmentRegistry.register(localEnvironmentKind);
environmentRegistry.register(subprocessEnvironmentKind);
environmentRegistry.register(distributedEnvironmentKind);

/** Rebuilds an environment from its JSON: refuses an unknown `type` (listing the known ones) and a malformed field (naming it). */
export function environmentFromJSON(json: unknown): Environment {
  return environmentRegistry.fromJSON(json);
}

/** Makes an environment of `kind` from command-line options, refusing options the kind does not take. */
export function createEnvironment(kind: string, options: EnvironmentFlagOptions = {}): Environment {
  return environmentRegistry.fromFlags(kind, options);
}
