// The top bar's session corner: who is signed in, and "Sign out"; and the one watcher that
// sends the user to /sign-in (with the page to come back to) when any query of any view
// answers 401, so a view need not handle it itself.
import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { useLocation, useNavigate } from "react-router";
import { currentToken, needsSignIn, setToken } from "../api.ts";
import { useSession } from "../session.tsx";

/** The path to come back to after signing in: only a path of this app. */
export function safeNext(next: string | null): string {
  return next?.startsWith("/") && !next.startsWith("//") ? next : "/";
}

/** Signed-in state and sign-out, for the top bar; also watches for 401 answers. */
export function SessionCorner() {
  const client = useQueryClient();
  const navigate = useNavigate();
  const location = useLocation();
  const session = useSession();
  useEffect(() => {
    const toSignIn = () => {
      if (window.location.pathname === "/sign-in") return;
      const next = window.location.pathname + window.location.search;
      void navigate(`/sign-in?next=${encodeURIComponent(next)}`, { replace: true });
    };
    if (
      client
        .getQueryCache()
        .findAll()
        .some((q) => needsSignIn(q.state.error))
    )
      toSignIn();
    return client.getQueryCache().subscribe((event) => {
      if (event.type === "updated" && needsSignIn(event.query.state.error)) toSignIn();
    });
  }, [client, navigate]);
  if (currentToken() === undefined || location.pathname === "/sign-in") return null;
  return (
    <div className="session-corner">
      {session.tokenName === undefined ? null : (
        <span className="session-name" title={`scope: ${session.scope ?? "…"}`}>
          {session.tokenName} ({session.scope})
        </span>
      )}
      <button
        type="button"
        className="button-quiet"
        onClick={() => {
          setToken(undefined);
          client.clear();
          void navigate("/sign-in");
        }}
      >
        Sign out
      </button>
    </div>
  );
}
