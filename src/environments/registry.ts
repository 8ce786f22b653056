// Every environment kind weft ships, by `type`. A kind's file holds all that
// weft knows of it (its `EnvironmentKind`: JSON schema and constructor,
// constructor from command-line options, capabilities); adding a kind is that
// file and one line here.
import { TypeRegistry } from "../serialization/registry.ts";
import { containerEnvironmentKind } from "./container/container-environment.ts";
import { distributedEnvironmentKind } from "./distributed/distributed-environment.ts";
import type {
  Environment,
  EnvironmentCapabilities,
  EnvironmentFlagOptions,
  EnvironmentHost,
  EnvironmentKind,
} from "./environment.ts";
import { kubernetesEnvironmentKind } from "./kubernetes/kubernetes-environment.ts";
import { localEnvironmentKind } from "./local-environment.ts";
import { subprocessEnvironmentKind } from "./subprocess/subprocess-environment.ts";

/** `type` → the kind of every environment: its schema, constructors and capabilities. */
export const environmentRegistry = new TypeRegistry<
  Environment,
  EnvironmentCapabilities,
  EnvironmentFlagOptions
>("environment");
const KINDS: readonly EnvironmentKind<never>[] = [
  localEnvironmentKind,
  subprocessEnvironmentKind,
  distributedEnvironmentKind,
  containerEnvironmentKind,
  kubernetesEnvironmentKind,
] as unknown as EnvironmentKind<never>[];
for (const kind of KINDS) environmentRegistry.register(kind);

/**
 * Removes what earlier runs of `host.owner` left on this host, kind by kind (each kind that
 * can: `EnvironmentKind.reap`): what an agent does when it starts. Answers how many things
 * each kind removed; a kind that failed is reported in `failed`, the others still reap.
 */
export async function reapLeftovers(
  host: EnvironmentHost & { readonly owner: string },
): Promise<{ removed: Record<string, number>; failed: Record<string, unknown> }> {
  const removed: Record<string, number> = {};
  const failed: Record<string, unknown> = {};
  await Promise.all(
    KINDS.map(async (kind) => {
      if (kind.reap === undefined) return;
      try {
        removed[kind.type] = await kind.reap(host);
      } catch (error) {
        failed[kind.type] = error;
      }
    }),
  );
  return { removed, failed };
}

/** Rebuilds an environment from its JSON: refuses an unknown `type` (listing the known ones) and a malformed field (naming it). */
export function environmentFromJSON(json: unknown): Environment {
  return environmentRegistry.fromJSON(json);
}

/** Makes an environment of `kind` from command-line options, refusing options the kind does not take. */
export function createEnvironment(kind: string, options: EnvironmentFlagOptions = {}): Environment {
  return environmentRegistry.fromFlags(kind, options);
}
