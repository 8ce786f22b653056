import { createHash } from "node:crypto";
import { WeftError } from "../../core/errors.ts";
import type { ApiToken, TokenScope } from "../../serialization/api-schemas.ts";
import type { ServerDb } from "../db/server-db.ts";

/** How the API checks tokens. */
export interface AuthOptions {
  /**
   * Serve every request without a token while the database holds no active token.
   * Only safe on a loopback address: `startServer` sets it from the host.
   * @default false
   */
  readonly allowOpen?: boolean;
  /**
   * How long a verified token, and the number of active tokens, are trusted
   * before the database is asked again: a revoked token stops working, and a first
   * token closes an open server, within this time.
   * @default 2000
   */
  readonly cacheMs?: number;
}

/** What a route needs: a scope, or nothing (health, readiness, the OpenAPI document). */
export type RequiredScope = TokenScope | "open";

/** Who made a request: a token, or nobody on an open server. */
export type Caller =
  | { readonly kind: "token"; readonly token: ApiToken }
  | { readonly kind: "open" };

/** Checks a request's `Authorization` header against the scope its route needs. */
export interface Authenticator {
  /** The caller, or throws UNAUTHENTICATED (401) / FORBIDDEN (403). */
  authorize(header: string | undefined, scope: RequiredScope, route: string): Promise<Caller>;
}

const RANK: Readonly<Record<TokenScope, number>> = { read: 0, agent: 1, admin: 2 };
const MAX_CACHED = 10_000;

/** The widest scope a token has (`read` ⊂ `agent` ⊂ `admin`). */
export function widestScope(scopes: readonly TokenScope[]): TokenScope | undefined {
  let best: TokenScope | undefined;
  for (const s of scopes) if (best === undefined || RANK[s] > RANK[best]) best = s;
  return best;
}

/** True when a token with `scopes` may call a route that needs `needed`. */
export function allows(scopes: readonly TokenScope[], needed: TokenScope): boolean {
  const widest = widestScope(scopes);
  return widest !== undefined && RANK[widest] >= RANK[needed];
}

/**
 * Bearer-token auth over `db.tokens.verify` (hashed secrets, compared in
 * constant time), with a short cache so that a busy agent does not cost a
 * database read per request. The cache is keyed by a hash of the secret.
 */
export function createAuthenticator(db: ServerDb, options: AuthOptions = {}): Authenticator {
  const cacheMs = options.cacheMs ?? 2000;
  const verified = new Map<string, { token: ApiToken; until: number }>();
  let openUntil = 0;
  let open = false;

  const isOpen = async (): Promise<boolean> => {
    if (!options.allowOpen) return false;
    const now = Date.now();
    if (now >= openUntil) {
      open = (await db.tokens.countActive()) === 0;
      openUntil = now + cacheMs;
    }
    return open;
  };

  const verify = async (secret: string): Promise<ApiToken | undefined> => {
    const key = createHash("sha256").update(secret).digest("base64");
    const now = Date.now();
    const hit = verified.get(key);
    if (hit !== undefined && hit.until > now) return hit.token;
    const token = await db.tokens.verify(secret);
    if (token === undefined) {
      verified.delete(key);
      return undefined;
    }
    if (verified.size >= MAX_CACHED) verified.clear();
    verified.set(key, { token, until: now + cacheMs });
    return token;
  };

  return {
    async authorize(header, scope, route) {
      if (scope === "open") return { kind: "open" };
      if (await isOpen()) return { kind: "open" };
      if (header === undefined || header === "") {
        throw new WeftError(
          "UNAUTHENTICATED",
          `${route} needs an API token with scope ${scope}: send "Authorization: Bearer <token>"`,
          {
            hint: `make one with \`weft token create --name NAME --scope ${scope} --db <database>\`; clients take --token or WEFT_API_TOKEN`,
          },
        );
      }
      const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
      if (match === null) {
        throw new WeftError(
          "UNAUTHENTICATED",
          `the Authorization header must be "Bearer <token>" (${route})`,
        );
      }
      const token = await verify(match[1]!);
      if (token === undefined) {
        throw new WeftError("UNAUTHENTICATED", `the API token is unknown or revoked (${route})`, {
          hint: "list tokens with `weft token ls --db <database>`; make a new one with `weft token create`",
        });
      }
      if (!allows(token.scopes, scope)) {
        throw new WeftError(
          "FORBIDDEN",
          `token "${token.name}" has scope ${widestScope(token.scopes) ?? "none"}; ${route} needs ${scope}`,
          { hint: `use a token made with --scope ${scope} (or wider: read ⊂ agent ⊂ admin)` },
        );
      }
      return { kind: "token", token };
    },
  };
}
