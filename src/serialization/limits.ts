import { z } from "zod";

/**
 * The limits on what the API accepts, the same on SQLite and PostgreSQL (the
 * README's "Limits" table). Names, keys and labels stay short enough that a
 * PostgreSQL index row holding two of them (a version group and an idempotency
 * key, 4 bytes a character at worst) fits under its ~2.7 KB maximum; messages
 * and stacks are long enough for what a flow-run process sends (it truncates
 * errors to 64 KiB); integers fit a 32-bit signed column.
 */
export const LIMITS = {
  /** Ids (flows, runs, agents, tokens) in bodies, queries and paths. */
  id: 256,
  /**
   * Names, version groups, labels, tags, idempotency keys, types, codes. A flow's
   * or task's own name is shorter (core/names.ts NAME_MAX_LENGTH, 200), leaving
   * room for what is appended to it (a run's name, a task slug's `-<n>`).
   */
  name: 256,
  /** Task slugs (a task's name plus `-<n>`). */
  slug: 256,
  /** Locations (in a storage, of a persisted result) and references. */
  location: 4096,
  /** Messages, error messages, stacks, hints, descriptions, log messages: 1 MiB. */
  message: 1024 * 1024,
  /** Largest integer (map indexes, attempts, versions, claims, counts): 2^31 - 1. */
  int: 2 ** 31 - 1,
} as const;

/** Refused in every string: PostgreSQL text cannot hold U+0000 (SQLite can), so neither takes it. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing U+0000 is the point
const NO_NUL = /^[^\u0000]*$/;

/**
 * True when `s` has no lone surrogate: PostgreSQL's JSON refuses one (`"\ud800"`),
 * so a label holding one broke every claim there, while SQLite stored it.
 */
export function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** A string of at most `max` characters (UTF-16 code units), without U+0000 or a lone surrogate. */
export function boundedString(max: number): z.ZodString {
  return z
    .string()
    .max(max, { message: `must be at most ${max} characters` })
    .regex(NO_NUL, { message: "must not contain a NUL character (U+0000)" })
    .refine(isWellFormed, { message: "must be well-formed Unicode (it holds a lone surrogate)" });
}

/** An integer from `min` to 2^31 - 1 (an integer column on both dialects). */
export function boundedInt(min = 0): z.ZodNumber {
  return z.int().min(min).max(LIMITS.int);
}

/**
 * A text of at most `max` characters that may hold any character: for texts
 * stored inside a JSON document (state and error messages, stacks,
 * descriptions), where JSON escapes U+0000 and lone surrogates, so both dialects
 * keep them. A task's error message with a NUL must not cost the run its state.
 */
export function boundedText(max: number): z.ZodString {
  return z.string().max(max, { message: `must be at most ${max} characters` });
}

/** Why a path parameter (or a cursor's part) is refused, or undefined when it is fine. */
export function badIdReason(value: string, max: number = LIMITS.id): string | undefined {
  if (value.length === 0) return "must not be empty";
  if (value.length > max) return `must be at most ${max} characters (got ${value.length})`;
  if (value.includes("\u0000")) return "must not contain a NUL character (U+0000)";
  if (!isWellFormed(value)) return "must be well-formed Unicode (it holds a lone surrogate)";
  return undefined;
}
