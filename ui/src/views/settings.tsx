// Settings (/settings): API tokens (list, create showing the secret once, revoke) for an
// admin token or an open server; concurrency limits (list for everyone; set and delete
// where the token may).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { TOKEN_SCOPES, type TokenScope } from "../../../src/serialization/token-scopes.ts";
import { api } from "../api.ts";
import { formatRelative, formatTime } from "../format.ts";
import { errorText, Panel, QueryState } from "../pages/common.tsx";
import { useSession } from "../session.tsx";

export function Settings() {
  const session = useSession();
  return (
    <div>
      <h1 className="page-title">Settings</h1>
      {session.scope === undefined ? <p className="note">Loading…</p> : null}
      {session.can("manageTokens") ? <Tokens /> : null}
      <Limits canManage={session.can("manageLimits")} />
    </div>
  );
}

function Tokens() {
  const client = useQueryClient();
  const open = useSession().scope === "open";
  const tokens = useQuery({ queryKey: ["tokens"], queryFn: () => api().listTokens() });
  const [name, setName] = useState("");
  const [scope, setScope] = useState<TokenScope>("read");
  const [created, setCreated] = useState<{ name: string; secret: string } | undefined>(undefined);
  const create = useMutation({
    mutationFn: () => api().createToken({ name: name.trim(), scopes: [scope] }),
    onSuccess: (answer) => {
      setCreated({ name: answer.token.name, secret: answer.secret });
      setName("");
      void client.invalidateQueries({ queryKey: ["tokens"] });
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) => api().revokeToken(id),
    onSuccess: () => client.invalidateQueries({ queryKey: ["tokens"] }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (name.trim() !== "") create.mutate();
  };
  return (
    <Panel title="API tokens" id="tokens">
      <QueryState error={tokens.error} loading={tokens.isPending} />
      {tokens.data === undefined ? null : (
        <table className="data">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Scopes</th>
              <th scope="col">Created</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span className="muted">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {tokens.data.map((t) => (
              <tr key={t.id} data-token={t.name} data-revoked={t.revokedAt !== undefined}>
                <td>{t.name}</td>
                <td>{t.scopes.join(", ")}</td>
                <td title={formatTime(t.createdAt)}>{formatRelative(t.createdAt)}</td>
                <td>
                  {t.revokedAt === undefined ? "active" : `revoked ${formatRelative(t.revokedAt)}`}
                </td>
                <td>
                  {t.revokedAt === undefined ? (
                    <button
                      type="button"
                      className="button-quiet button-danger"
                      aria-label={`Revoke ${t.name}`}
                      disabled={revoke.isPending}
                      onClick={() => revoke.mutate(t.id)}
                    >
                      Revoke
                    </button>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {revoke.error ? <p className="note note-error">{errorText(revoke.error)}</p> : null}
      <form className="inline-form" onSubmit={submit} aria-label="Create a token">
        <div className="field">
          <label htmlFor="token-name">Name</label>
          <input
            id="token-name"
            type="text"
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="token-scope">Scope</label>
          <select
            id="token-scope"
            value={scope}
            onChange={(e) => setScope(e.target.value as TokenScope)}
          >
            {TOKEN_SCOPES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="button" disabled={create.isPending || name.trim() === ""}>
          Create token
        </button>
      </form>
      {open ? (
        <p className="note">
          This server serves without tokens while it has none: the first token closes it, and you
          sign in with an admin token after.
        </p>
      ) : null}
      {create.error ? <p className="note note-error">{errorText(create.error)}</p> : null}
      {created === undefined ? null : (
        <div className="secret" role="status">
          <p>
            The secret of <strong>{created.name}</strong>, shown this once: keep it now.
          </p>
          <code className="mono" data-secret>
            {created.secret}
          </code>
          <div>
            <button type="button" className="button-quiet" onClick={() => setCreated(undefined)}>
              Done
            </button>
          </div>
        </div>
      )}
    </Panel>
  );
}

function Limits({ canManage }: { canManage: boolean }) {
  const client = useQueryClient();
  const limits = useQuery({ queryKey: ["limits"], queryFn: () => api().listConcurrencyLimits() });
  const [tag, setTag] = useState("");
  const [limit, setLimit] = useState("1");
  const [formError, setFormError] = useState<string | undefined>(undefined);
  const set = useMutation({
    mutationFn: (v: { tag: string; limit: number }) => api().setConcurrencyLimit(v.tag, v.limit),
    onSuccess: () => {
      setTag("");
      void client.invalidateQueries({ queryKey: ["limits"] });
    },
    onError: (error) => setFormError(errorText(error)),
  });
  const remove = useMutation({
    mutationFn: (t: string) => api().deleteConcurrencyLimit(t),
    onSuccess: () => client.invalidateQueries({ queryKey: ["limits"] }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setFormError(undefined);
    const n = Number(limit);
    if (tag.trim() === "") return setFormError("tag: required");
    if (!/^\d+$/.test(limit.trim()) || n > 1_000_000)
      return setFormError(`limit: a whole number from 0 to 1000000, got ${JSON.stringify(limit)}`);
    set.mutate({ tag: tag.trim(), limit: n });
  };
  return (
    <Panel title="Concurrency limits" id="limits">
      <QueryState error={limits.error} loading={limits.isPending} />
      {limits.data === undefined ? null : limits.data.length === 0 ? (
        <p className="note">No limit is set. A task with a tag runs as often as agents allow.</p>
      ) : (
        <table className="data">
          <thead>
            <tr>
              <th scope="col">Tag</th>
              <th scope="col">Limit</th>
              <th scope="col">In use</th>
              <th scope="col">Updated</th>
              {canManage ? (
                <th scope="col">
                  <span className="muted">Actions</span>
                </th>
              ) : null}
            </tr>
          </thead>
          <tbody>
            {limits.data.map((l) => (
              <tr key={l.tag} data-limit={l.tag}>
                <td className="mono">{l.tag}</td>
                <td>{l.limit}</td>
                <td>{l.active}</td>
                <td title={formatTime(l.updatedAt)}>{formatRelative(l.updatedAt)}</td>
                {canManage ? (
                  <td>
                    <button
                      type="button"
                      className="button-quiet button-danger"
                      aria-label={`Delete the limit of ${l.tag}`}
                      onClick={() => remove.mutate(l.tag)}
                    >
                      Delete
                    </button>
                  </td>
                ) : null}
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {canManage ? (
        <form className="inline-form" onSubmit={submit} aria-label="Set a limit" noValidate>
          <div className="field">
            <label htmlFor="limit-tag">Tag</label>
            <input
              id="limit-tag"
              type="text"
              value={tag}
              onChange={(e) => setTag(e.target.value)}
            />
          </div>
          <div className="field">
            <label htmlFor="limit-value">Limit</label>
            <input
              id="limit-value"
              type="text"
              inputMode="numeric"
              value={limit}
              onChange={(e) => setLimit(e.target.value)}
            />
          </div>
          <button type="submit" className="button" disabled={set.isPending}>
            Set limit
          </button>
        </form>
      ) : null}
      {formError ? (
        <p className="note note-error" role="alert">
          {formError}
        </p>
      ) : null}
      {remove.error ? <p className="note note-error">{errorText(remove.error)}</p> : null}
    </Panel>
  );
}
