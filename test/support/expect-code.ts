import assert from "node:assert/strict";
import { isWeftError } from "../../src/index.ts";

/** Asserts that `fn` throws (or rejects with) a weft error with this code, and returns it. */
export async function expectCode(
  fn: () => unknown,
  code: string,
  what: string,
): Promise<Error & { code: string; hint?: string }> {
  let thrown: unknown;
  try {
    await fn();
  } catch (error) {
    thrown = error;
  }
  assert.ok(thrown !== undefined, `${what}: expected ${code}, but nothing was thrown`);
  assert.ok(
    isWeftError(thrown),
    `${what}: expected a weft error ${code}, got ${String((thrown as Error)?.stack ?? thrown)}`,
  );
  assert.equal(thrown.code, code, `${what}: ${thrown.message}`);
  return thrown as Error & { code: string; hint?: string };
}
