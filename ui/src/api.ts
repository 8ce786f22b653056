// The UI's one door to the server: weft's typed API client (src/client), pointed at the
// origin that served the page, with the token the user signed in with. The UI never
// reaches into the server's internals; everything it shows comes through these calls.
//
// The token lives in sessionStorage (session-token.ts): it is kept for the tab's session,
// never put in a URL, and gone when the tab closes.
import { type ApiClient, ApiError, createApiClient } from "../../src/client/api-client.ts";
import { takeFirstRead } from "./first-read.ts";
import { currentToken, storeToken } from "./session-token.ts";

export type { ApiClient };
export { ApiError, currentToken };

/** Keeps (or, with undefined, forgets) the tab's token and makes a new client for it. */
export function setToken(token: string | undefined): void {
  storeToken(token);
  client = makeClient();
}

function makeClient(): ApiClient {
  return createApiClient({
    url: window.location.origin,
    token: currentToken(),
    // The first view's read may be on its way already, started by the entry (first-read.ts).
    fetch: (input, init) => takeFirstRead(input, init) ?? globalThis.fetch(input, init),
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
