/** Token scopes, widest last: `read` ⊂ `agent` ⊂ `admin`. */
export const TOKEN_SCOPES = ["read", "agent", "admin"] as const;
/** One of {@link TOKEN_SCOPES}. */
export type TokenScope = (typeof TOKEN_SCOPES)[number];
