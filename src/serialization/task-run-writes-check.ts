// A quicker check of task-run state writes in their common shape: a flow-run process
// sends thousands a request (POST /api/task-run-states), and zod's checks of each
// write (strict objects, bounded strings with two refinements, an ISO time with a
// range refinement) were the largest cost of the request after the database.
//
// Decisions:
// - It only ever accepts. A write outside the plain shape (a state with a message,
//   result, error, …) is checked by zod alone, and a body with any problem is left
//   to the route's schema, which words every error: messages never come from here.
// - The rules it repeats are the schema's own, not copies: the time pattern is the
//   schema's regular expression, the bounds are LIMITS; a test checks over many
//   generated bodies that whatever it accepts zod accepts, with the same output
//   (keys in the schema's order, as JSON.stringify then stores them).
import { STATE_TYPES, type StateType } from "../core/states.ts";
import {
  MAX_TASK_RUN_WRITES,
  type SetTaskRunStatesRequest,
  type TaskRunStateWrite,
  taskRunStateWriteSchema,
} from "./api-schemas.ts";
import { isWellFormed, LIMITS } from "./limits.ts";
import { isoTimeSchema, isTimeInRange } from "./schemas.ts";

const ISO_TIME: RegExp = (() => {
  const pattern = isoTimeSchema.def.pattern;
  if (pattern === undefined) throw new Error("the ISO time schema has no pattern");
  return pattern;
})();
const TYPES: ReadonlySet<string> = new Set(STATE_TYPES);

/**
 * The body of POST /api/task-run-states, checked, when every write passes this
 * quick check or zod's; undefined when anything is wrong (the route's schema
 * then says what).
 */
export function quickTaskRunStates(input: unknown): SetTaskRunStatesRequest | undefined {
  if (!isPlainObject(input)) return undefined;
  let states: unknown;
  for (const key in input) {
    if (key !== "states") return undefined;
    states = input[key];
  }
  if (!Array.isArray(states) || states.length < 1 || states.length > MAX_TASK_RUN_WRITES)
    return undefined;
  const out: TaskRunStateWrite[] = new Array(states.length);
  for (let i = 0; i < states.length; i++) {
    const write = quickWrite(states[i]);
    if (write !== undefined) {
      out[i] = write;
      continue;
    }
    const parsed = taskRunStateWriteSchema.safeParse(states[i]);
    if (!parsed.success) return undefined;
    out[i] = parsed.data;
  }
  return { states: out };
}

/** The checked write, in the schema's key order; undefined when it is not plainly valid. */
function quickWrite(input: unknown): TaskRunStateWrite | undefined {
  if (!isPlainObject(input)) return undefined;
  let count = 0;
  for (const key in input) {
    if (!WRITE_KEYS.has(key)) return undefined;
    count++;
  }
  const { flowRunId, slug, mapIndex, state, version, claim, resultRef } = input;
  if (!isName(flowRunId, LIMITS.id) || !isName(slug, LIMITS.slug)) return undefined;
  if (!isInt(version, 0)) return undefined;
  if (mapIndex !== undefined && !isInt(mapIndex, 0)) return undefined;
  if (claim !== undefined && !isInt(claim, 1)) return undefined;
  if (resultRef !== undefined && !isBounded(resultRef, LIMITS.location)) return undefined;
  const checked = quickState(state);
  if (checked === undefined) return undefined;
  // Every key counted is one of those read: none may hold `undefined` (zod refuses it).
  const present =
    4 +
    Number(mapIndex !== undefined) +
    Number(claim !== undefined) +
    Number(resultRef !== undefined);
  if (count !== present) return undefined;
  const write: TaskRunStateWrite = { flowRunId, slug } as TaskRunStateWrite;
  if (mapIndex !== undefined) write.mapIndex = mapIndex as number;
  write.state = checked;
  write.version = version;
  if (claim !== undefined) write.claim = claim as number;
  if (resultRef !== undefined) write.resultRef = resultRef as string;
  return write;
}

/** A state of the plain shape (no message, result, error, …), checked; else undefined. */
function quickState(input: unknown): TaskRunStateWrite["state"] | undefined {
  if (!isPlainObject(input)) return undefined;
  let count = 0;
  for (const key in input) {
    if (!STATE_KEYS.has(key)) return undefined;
    count++;
  }
  const { schemaVersion, type, timestamp, startedAt, attempts } = input;
  if (schemaVersion !== 1 || typeof type !== "string" || !TYPES.has(type)) return undefined;
  if (!isTime(timestamp)) return undefined;
  if (startedAt !== undefined && !isTime(startedAt)) return undefined;
  if (attempts !== undefined && !isInt(attempts, 0)) return undefined;
  if (count !== 3 + Number(startedAt !== undefined) + Number(attempts !== undefined))
    return undefined;
  const state: TaskRunStateWrite["state"] = { schemaVersion, type: type as StateType, timestamp };
  if (startedAt !== undefined) state.startedAt = startedAt as string;
  if (attempts !== undefined) state.attempts = attempts as number;
  return state;
}

const WRITE_KEYS: ReadonlySet<string> = new Set(Object.keys(taskRunStateWriteSchema.shape));
const STATE_KEYS: ReadonlySet<string> = new Set([
  "schemaVersion",
  "type",
  "timestamp",
  "startedAt",
  "attempts",
]);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype
  );
}

/** boundedString(max): at most `max` characters, no NUL, well-formed. */
function isBounded(value: unknown, max: number): value is string {
  return (
    typeof value === "string" &&
    value.length <= max &&
    !value.includes("\u0000") &&
    isWellFormed(value)
  );
}

/** boundedString(max).min(1). */
function isName(value: unknown, max: number): value is string {
  return isBounded(value, max) && value.length > 0;
}

/** boundedInt(min). */
function isInt(value: unknown, min: number): value is number {
  return Number.isInteger(value) && (value as number) >= min && (value as number) <= LIMITS.int;
}

/** isoTimeSchema. */
function isTime(value: unknown): value is string {
  return typeof value === "string" && ISO_TIME.test(value) && isTimeInRange(Date.parse(value));
}
