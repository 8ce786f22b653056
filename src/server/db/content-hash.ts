import { createHash } from "node:crypto";
import type { SerializedFlow } from "../../serialization/schemas.ts";

/**
 * JSON with object keys sorted at every depth, so that equal values give equal
 * text whatever order their keys were written in. `undefined` members are left
 * out, as `JSON.stringify` does.
 */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== "object" || Array.isArray(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = (v as Record<string, unknown>)[k];
    return sorted;
  });
}

/**
 * The sha256 (hex) of a flow's structural content: its name, graph (tasks, edges,
 * reference tasks), parameters, storage, environment, location, labels, schedule
 * and result backend. The description is left out. Same code and settings → same
 * hash → the same registered version.
 */
export function flowContentHash(flow: SerializedFlow): string {
  const structure = {
    name: flow.name,
    tasks: flow.tasks,
    edges: flow.edges,
    referenceTasks: flow.referenceTasks,
    parameters: flow.parameters,
    storage: flow.storage,
    environment: flow.environment,
    location: flow.location,
    labels: flow.labels,
    schedule: flow.schedule,
    result: flow.result,
  };
  return createHash("sha256").update(canonicalJson(structure)).digest("hex");
}
