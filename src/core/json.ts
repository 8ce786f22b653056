import { isDeepStrictEqual } from "node:util";

/** True when JSON carries `value` exactly (no Date, Map, NaN, undefined member, class instance…). */
export function isPlainJson(value: unknown): boolean {
  try {
    return isDeepStrictEqual(JSON.parse(JSON.stringify(value)), value);
  } catch {
    return false;
  }
}
