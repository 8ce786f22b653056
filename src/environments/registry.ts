import { TypeRegistry } from "../serialization/registry.ts";
import {
  distributedEnvironmentFromJSON,
  distributedEnvironmentSchema,
} from "./distributed/distributed-environment.ts";
import type { Environment } from "./environment.ts";
import { localEnvironmentFromJSON, localEnvironmentSchema } from "./local-environment.ts";
import {
  subprocessEnvironmentFromJSON,
  subprocessEnvironmentSchema,
} from "./subprocess/subprocess-environment.ts";

/** `type` → schema and constructor of every environment kind. */
export const environmentRegistry = new TypeRegistry<Environment>("environment");
environmentRegistry.register({
  type: "local",
  schema: localEnvironmentSchema,
  create: localEnvironmentFromJSON,
});
environmentRegistry.register({
  type: "subprocess",
  schema: subprocessEnvironmentSchema,
  create: subprocessEnvironmentFromJSON,
});
environmentRegistry.register({
  type: "distributed",
  schema: distributedEnvironmentSchema,
  create: distributedEnvironmentFromJSON,
});

/** Rebuilds an environment from its JSON: refuses an unknown `type` (listing the known ones) and a malformed field (naming it). */
export function environmentFromJSON(json: unknown): Environment {
  return environmentRegistry.fromJSON(json);
}
