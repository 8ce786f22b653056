import { deserialize, serialize } from "node:v8";
import { WeftError } from "../../core/errors.ts";
import { isPlainJson } from "../../core/json.ts";

/** How results are turned into bytes. */
export const RESULT_SERIALIZERS = ["json", "binary"] as const;
/** One of {@link RESULT_SERIALIZERS}. */
export type ResultSerializer = (typeof RESULT_SERIALIZERS)[number];

// V8's wire format starts with its version tag; JSON never does.
const V8_TAG = 0xff;
// `undefined` (a task that returns nothing) is this one byte, which neither format starts with;
// an empty file stays what it is: a truncated, corrupt result.
const UNDEFINED = 0x00;

/**
 * Encodes a result. `json` refuses what JSON would change (a Date, a Map…)
 * rather than store something else; `binary` (V8's structured-clone format)
 * carries Date, Map, Set, typed arrays, BigInt and cycles, but not functions
 * or symbols. Either way a value that cannot be stored is refused with a
 * message that says what it is and which serializer to use.
 */
export function encodeResult(
  value: unknown,
  serializer: ResultSerializer,
  what: string,
): Uint8Array {
  // A task that returns nothing is common: `undefined` is stored as one marker byte by either serializer.
  if (value === undefined) return Uint8Array.of(UNDEFINED);
  if (serializer === "json") {
    if (!isPlainJson(value)) {
      throw new WeftError(
        "RESULT_NOT_SERIALIZABLE",
        `${what}: the json result serializer cannot store ${describe(value)} exactly`,
        {
          hint: 'use the binary serializer (serializer: "binary") for Date, Map, Set, typed arrays and BigInt',
        },
      );
    }
    return Buffer.from(JSON.stringify(value));
  }
  try {
    return serialize(value);
  } catch (error) {
    throw new WeftError(
      "RESULT_NOT_SERIALIZABLE",
      `${what}: ${describe(value)} cannot be stored: ${(error as Error).message}`,
      {
        hint: "return data (objects, arrays, strings, numbers, Dates, Maps, typed arrays), not functions or handles",
      },
    );
  }
}

/** Decodes bytes written by either serializer (the format is recognised, whatever is configured now). */
export function decodeResult(bytes: Uint8Array, what: string): unknown {
  if (bytes.byteLength === 1 && bytes[0] === UNDEFINED) return undefined;
  try {
    if (bytes.byteLength === 0) throw new Error("it is empty");
    if (bytes[0] === V8_TAG) return deserialize(bytes);
    return JSON.parse(
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8"),
    );
  } catch (error) {
    throw new WeftError("RESULT_UNREADABLE", `${what} is corrupt: ${(error as Error).message}`);
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "function") return "a function";
  if (typeof value === "object") return `a ${value.constructor?.name ?? "null-prototype object"}`;
  if (typeof value === "number") return `the number ${value}`;
  return `a ${typeof value}`;
}
