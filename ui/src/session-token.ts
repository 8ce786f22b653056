// The token this tab signed in with, kept in sessionStorage: for the tab's session, never in a
// URL, gone when the tab closes. Apart from api.ts (which makes the client with it) because the
// app's entry reads it before the client's code has loaded (first-read.ts).

const TOKEN_KEY = "weft.token";

/** The token this tab signed in with, if any. */
export function currentToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/** Keeps (or, with undefined, forgets) the tab's token. */
export function storeToken(token: string | undefined): void {
  if (token === undefined) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
}
