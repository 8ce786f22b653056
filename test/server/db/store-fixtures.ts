// Serialized flows and states for store tests, built by hand so that each test
// controls exactly what it registers.
import { randomUUID } from "node:crypto";
import type { StateType } from "../../../src/core/states.ts";
import type {
  SerializedFlow,
  SerializedSchedule,
  SerializedState,
} from "../../../src/serialization/schemas.ts";

/** A small serialized flow with a unique name: two tasks, one parameter `x` (number, default 1). */
export function serializedFlow(overrides: Partial<SerializedFlow> = {}): SerializedFlow {
  const options = {
    retries: 0,
    retryDelay: 0,
    trigger: "all_successful",
    skipOnUpstreamSkip: true,
    cacheKey: false,
    tags: [],
  } as const;
  return {
    schemaVersion: 1,
    name: `flow-${randomUUID()}`,
    parameters: [{ name: "x", default: 1, required: false, type: "number", validated: false }],
    tasks: [
      { slug: "x", name: "x", kind: "parameter", mapped: false, options: { ...options, tags: [] } },
      {
        slug: "inc-1",
        name: "inc",
        kind: "task",
        mapped: false,
        options: { ...options, tags: [] },
      },
    ],
    edges: [{ upstream: "x", downstream: "inc-1", key: 0, mapped: false }],
    referenceTasks: ["inc-1"],
    labels: [],
    ...overrides,
  };
}

/** A cron schedule in a time zone. */
export function cronSchedule(expression: string, timezone = "UTC"): SerializedSchedule {
  return { schemaVersion: 1, type: "cron", expression, timezone };
}

/** A state of `type` at `at` (default now). */
export function st(
  type: StateType,
  at: Date | string = new Date(),
  extra: Partial<SerializedState> = {},
): SerializedState {
  return {
    schemaVersion: 1,
    type,
    timestamp: typeof at === "string" ? at : at.toISOString(),
    ...extra,
  };
}
