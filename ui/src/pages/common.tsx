// Small pieces every page of this folder uses: a panel with a heading, the loading and
// error lines, a run's link, and labels as chips.
import type { ReactNode } from "react";
import { Link } from "react-router";
import { ApiError } from "../api.ts";
import "./pages.css";

/** A titled panel of a page. */
export function Panel({
  title,
  children,
  actions,
  id,
}: {
  title: string;
  children: ReactNode;
  actions?: ReactNode;
  id?: string;
}) {
  const headingId = `panel-${id ?? title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <section className="panel" aria-labelledby={headingId}>
      <div className="panel-head">
        <h2 id={headingId}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}

/** What a query shows before its answer, or when it failed (a 401 goes to sign-in elsewhere). */
export function QueryState({ error, loading }: { error: unknown; loading: boolean }) {
  if (error) return <p className="note note-error">{errorText(error)}</p>;
  if (loading) return <p className="note">Loading…</p>;
  return null;
}

/** An error as one line: the API's message and hint, else the error's message. */
export function errorText(error: unknown): string {
  if (error instanceof ApiError)
    return error.hint ? `${error.message} (${error.hint})` : error.message;
  return error instanceof Error ? error.message : String(error);
}

/** A run's name as a link to its page. */
export function RunLink({ id, name }: { id: string; name: string }) {
  return <Link to={`/runs/${encodeURIComponent(id)}`}>{name}</Link>;
}

/** Labels as small chips ("–" without any). */
export function Labels({ labels }: { labels: readonly string[] }) {
  if (labels.length === 0) return <span className="muted">–</span>;
  return (
    <span className="chips">
      {labels.map((l) => (
        <span key={l} className="chip">
          {l}
        </span>
      ))}
    </span>
  );
}
