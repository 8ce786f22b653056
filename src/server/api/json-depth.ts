/**
 * The deepest nesting of objects and arrays a request body may have. The
 * deepest body weft itself sends is a serialized flow (about 8 levels:
 * body, flow, tasks, task, options, …); parameters and log fields carry
 * users' values below 2 to 4 levels of envelope. Schema checks, error
 * previews and the credential walk recurse once per level, so a limit far
 * below the stack's keeps them safe.
 */
export const MAX_JSON_DEPTH = 100;

const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const QUOTE = 0x22; // "
const BACKSLASH = 0x5c; // \

/**
 * True when `text`, read as JSON, nests objects and arrays deeper than `max`:
 * one pass over the characters counting brackets outside strings, before
 * anything parses it (O(n), no allocation). Malformed text is left to the
 * parser, which says what is wrong with it.
 */
export function jsonDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return true;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      depth--;
    }
  }
  return false;
}
