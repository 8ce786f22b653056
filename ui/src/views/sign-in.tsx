// Sign-in (/sign-in): a server with tokens sends every 401 here (pages/sign-in-watch.tsx).
// The token is typed into a password field, kept for the tab's session (setToken:
// sessionStorage, never a URL), checked with GET /api/session, and the user goes back to
// where they were (`next`, a path of this app only).
import { useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useNavigate, useSearchParams } from "react-router";
import { api, needsSignIn, setToken } from "../api.ts";
import { errorText } from "../pages/common.tsx";
import { safeNext } from "../pages/sign-in-watch.tsx";

export function SignIn() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const client = useQueryClient();
  const [token, setTokenText] = useState("");
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (token.trim() === "") return setError("Enter a token.");
    setBusy(true);
    setError(undefined);
    setToken(token.trim());
    try {
      const session = await api().getSession();
      client.clear();
      client.setQueryData(["session"], session);
      await navigate(safeNext(params.get("next")), { replace: true });
    } catch (e) {
      setToken(undefined);
      setError(
        needsSignIn(e) ? "The server does not know this token (or it was revoked)." : errorText(e),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="sign-in">
      <h1 className="page-title">Sign in</h1>
      <p className="muted">
        This server needs an API token. Ask an admin for one (<code>weft token create</code>); it is
        kept for this tab only.
      </p>
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <div className="field">
          <label htmlFor="token">Token</label>
          <input
            id="token"
            type="password"
            autoComplete="current-password"
            value={token}
            onChange={(e) => setTokenText(e.target.value)}
            aria-invalid={error !== undefined}
            aria-describedby={error ? "token-error" : undefined}
          />
          {error ? (
            <div className="field-error" id="token-error" role="alert">
              {error}
            </div>
          ) : null}
        </div>
        <div>
          <button type="submit" className="button" disabled={busy}>
            Sign in
          </button>
        </div>
      </form>
    </div>
  );
}
