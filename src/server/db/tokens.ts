import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { TOKEN_SCOPES, type TokenScope } from "../../serialization/api-schemas.ts";

// An API token's secret is `weft_<id>_<random>`: the id finds the record, the
// random part (64 hex characters) is checked against its stored sha256.

const SECRET_PATTERN = /^weft_([a-z0-9]{12})_([0-9a-f]{64})$/;

/** A new token id and its secret. */
export function newTokenSecret(): { id: string; secret: string; hash: string } {
  const id = randomBytes(8).toString("hex").slice(0, 12);
  const random = randomBytes(32).toString("hex");
  return { id, secret: `weft_${id}_${random}`, hash: hashSecret(random) };
}

/** The id and random part of a secret, or undefined when it is not shaped like one. */
export function parseTokenSecret(secret: string): { id: string; random: string } | undefined {
  const match = SECRET_PATTERN.exec(secret);
  return match ? { id: match[1]!, random: match[2]! } : undefined;
}

/** sha256 (hex) of a secret's random part. */
export function hashSecret(random: string): string {
  return createHash("sha256").update(random).digest("hex");
}

/** Compares a secret's random part with a stored hash in constant time. */
export function secretMatches(random: string, storedHash: string): boolean {
  const given = Buffer.from(hashSecret(random), "hex");
  const stored = Buffer.from(storedHash, "hex");
  return given.length === stored.length && timingSafeEqual(given, stored);
}

/**
 * True when a token with `scopes` may do what `needed` allows. Scopes are
 * ordered, read ⊂ agent ⊂ admin: an admin token may do everything.
 */
export function scopeAllows(scopes: readonly TokenScope[], needed: TokenScope): boolean {
  const rank = TOKEN_SCOPES.indexOf(needed);
  return scopes.some((s) => TOKEN_SCOPES.indexOf(s) >= rank);
}
