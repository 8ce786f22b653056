// The UI's one door to the server: weft's typed API client (src/client), pointed at the
// origin that served the page, with the token the user signed in with. The UI never
// reaches into the server's internals; everything it shows comes through these calls.
//
// The token lives in sessionStorage: it is kept for the tab's session, never put in a URL,
// and gone when the tab closes.
import { type ApiClient, ApiError, createApiClient } from "../../src/client/api-client.ts";

export type { ApiClient };
export { ApiError };

const TOKEN_KEY = "weft.token";

/** The token this tab signed in with, if any. */
export function currentToken(): string | undefined {
  return sessionStorage.getItem(TOKEN_KEY) ?? undefined;
}

/** Keeps (or, with undefined, forgets) the tab's token and makes a new client for it. */
export function setToken(token: string | undefined): void {
  if (token === undefined) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, token);
  client = makeClient();
}

function makeClient(): ApiClient {
  return createApiClient({
    url: window.location.origin,
    token: currentToken(),
    fetch: (input, init) => globalThis.fetch(input, init),
  });
}

let client = makeClient();

/** The API client for the current token. */
export function api(): ApiClient {
  return client;
}

/** True when an error means "sign in first" (no token, or one the server does not know). */
export function needsSignIn(error: unknown): boolean {
  return error instanceof ApiError && error.status === 401;
}
