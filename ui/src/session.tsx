// Who is signed in, and what they may do: the UI offers only the actions the token's scope
// allows (read ⊂ agent ⊂ admin; an open loopback server allows everything).
//
// The server answers `GET /api/session` with the caller's scope (added with the UI);
// until the answer comes, nothing that writes is offered.
import { useQuery } from "@tanstack/react-query";
import { api } from "./api.ts";

export type SessionScope = "open" | "read" | "agent" | "admin";

/** The actions the UI offers, with the scope each needs on the server. */
export const ACTION_SCOPES = {
  cancel: "agent",
  startRun: "agent",
  resume: "agent",
  approve: "agent",
  manageTokens: "admin",
  manageLimits: "admin",
} as const satisfies Record<string, Exclude<SessionScope, "open">>;
export type UiAction = keyof typeof ACTION_SCOPES;

const RANK: Record<SessionScope, number> = { read: 1, agent: 2, admin: 3, open: 4 };

export interface Session {
  /** Undefined while the server has not answered. */
  readonly scope: SessionScope | undefined;
  /** The token's name, when signed in with one. */
  readonly tokenName: string | undefined;
  can(action: UiAction): boolean;
}

/** The signed-in session (one query, cached for the tab). */
export function useSession(): Session {
  const { data } = useQuery({
    queryKey: ["session"],
    queryFn: () => api().getSession(),
    staleTime: 60_000,
  });
  const scope = data?.scope;
  return {
    scope,
    tokenName: data?.tokenName,
    can: (action) => scope !== undefined && RANK[scope] >= RANK[ACTION_SCOPES[action]],
  };
}
