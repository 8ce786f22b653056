// The runs (/runs): a table of runs, filtered by flow, state, time range and labels, the
// filters kept in the URL's query string so a view can be shared. Pages are the API's
// keyset pages (a cursor, never an offset), so the 1,000th page costs what the first does;
// the page's cursor is in the URL too, so the browser's back button goes back a page. Live: a run event patches the row it
// names; a run that is not on the page refetches the first page (at most once a second).
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { useSearchParams } from "react-router";
import type { ApiPage } from "../../../src/client/api-client.ts";
import type { FlowRunRecord } from "../../../src/serialization/api-schemas.ts";
import { api } from "../api.ts";
import { Panel, QueryState } from "../pages/common.tsx";
import { useLiveRefresh } from "../pages/live-refresh.ts";
import { RunsTable } from "../pages/runs-table.tsx";

/** The state filters offered (a parent state selects its children too). */
const STATES = [
  "Scheduled",
  "Pending",
  "Running",
  "Paused",
  "Success",
  "Failed",
  "Cancelled",
  "Skipped",
] as const;
const FILTERS = ["flow", "state", "since", "until", "labels"] as const;
type Filter = (typeof FILTERS)[number];
const PAGE_SIZE = 50;

/** A `datetime-local` value (local time, minutes) as an ISO time, or undefined. */
function isoOf(local: string | null): string | undefined {
  if (local === null || local === "") return undefined;
  const ms = Date.parse(local);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

export function Runs() {
  const [params, setParams] = useSearchParams();
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? ""])) as Record<
    Filter,
    string
  >;
  const cursor = params.get("cursor") ?? undefined;
  const queryKey = ["runs", filters, cursor ?? null] as const;
  const runs = useQuery({
    queryKey,
    queryFn: () =>
      api().listFlowRuns({
        limit: PAGE_SIZE,
        ...(filters.flow ? { flowName: filters.flow } : {}),
        ...(filters.state ? { state: filters.state } : {}),
        ...optional("since", isoOf(filters.since)),
        ...optional("until", isoOf(filters.until)),
        ...(filters.labels ? { labels: filters.labels } : {}),
        ...(cursor ? { cursor } : {}),
      }),
    placeholderData: keepPreviousData,
  });
  const flows = useQuery({ queryKey: ["flows"], queryFn: () => api().listFlows({ limit: 500 }) });
  const flowNames = [...new Set((flows.data?.items ?? []).map((f) => f.name))].sort();
  useLiveRefresh([["runs"]], {
    patch: (client, run) => {
      const page = client.getQueryData<ApiPage<FlowRunRecord>>(queryKey);
      const at = page?.items.findIndex((r) => r.id === run.id) ?? -1;
      if (page !== undefined && at >= 0) {
        const items = page.items.slice();
        // A later version only: events may arrive after a refetch brought a newer row.
        if (items[at]!.version <= run.version) items[at] = run;
        client.setQueryData(queryKey, { ...page, items });
        // Its new state may leave the state filter: the server decides.
        return filters.state ? "refetch" : "patched";
      }
      return cursor === undefined && matches(run, filters) ? "refetch" : "patched";
    },
  });
  const setFilters = (next: Partial<Record<Filter, string>>) => {
    const merged = { ...filters, ...next };
    const search = new URLSearchParams();
    for (const f of FILTERS) if (merged[f]) search.set(f, merged[f]);
    setParams(search);
  };
  const older = () => {
    if (runs.data?.nextCursor === undefined) return;
    const search = new URLSearchParams(params);
    search.set("cursor", runs.data.nextCursor);
    setParams(search);
  };
  const newest = () => {
    const search = new URLSearchParams(params);
    search.delete("cursor");
    setParams(search);
  };
  return (
    <div>
      <h1 className="page-title">Runs</h1>
      <Filters
        key={params.toString()}
        filters={filters}
        flowNames={flowNames}
        onChange={setFilters}
      />
      <Panel title={cursor ? "Older runs" : "Newest runs"} id="runs">
        <QueryState error={runs.error} loading={runs.isPending} />
        {runs.data === undefined ? null : runs.data.items.length === 0 ? (
          <p className="note">No run matches.</p>
        ) : (
          <RunsTable runs={runs.data.items} />
        )}
        <nav className="pager" aria-label="Pages">
          <button
            type="button"
            className="button-quiet"
            onClick={newest}
            disabled={cursor === undefined}
          >
            Newest
          </button>
          <button
            type="button"
            className="button-quiet"
            onClick={older}
            disabled={runs.data?.nextCursor === undefined}
          >
            Older
          </button>
        </nav>
      </Panel>
    </div>
  );
}

function optional<K extends string>(key: K, value: string | undefined): { [k in K]?: string } {
  return value === undefined ? {} : ({ [key]: value } as { [k in K]?: string });
}

/** True when `run` would be listed under `filters` (as far as the browser can tell). */
function matches(run: FlowRunRecord, filters: Record<Filter, string>): boolean {
  if (filters.flow && run.flowName !== filters.flow) return false;
  if (filters.labels && !filters.labels.split(",").every((l) => run.labels.includes(l.trim())))
    return false;
  return true;
}

function Filters({
  filters,
  flowNames,
  onChange,
}: {
  filters: Record<Filter, string>;
  flowNames: readonly string[];
  onChange: (next: Partial<Record<Filter, string>>) => void;
}) {
  const [labels, setLabels] = useState(filters.labels);
  const submitLabels = (event: FormEvent) => {
    event.preventDefault();
    onChange({ labels: labels.trim() });
  };
  return (
    <form className="filters" onSubmit={submitLabels} aria-label="Filters">
      <div>
        <label htmlFor="filter-flow">Flow</label>
        <select
          id="filter-flow"
          value={filters.flow}
          onChange={(e) => onChange({ flow: e.target.value })}
        >
          <option value="">all flows</option>
          {flowNames.map((n) => (
            <option key={n} value={n}>
              {n}
            </option>
          ))}
          {filters.flow && !flowNames.includes(filters.flow) ? (
            <option value={filters.flow}>{filters.flow}</option>
          ) : null}
        </select>
      </div>
      <div>
        <label htmlFor="filter-state">State</label>
        <select
          id="filter-state"
          value={filters.state}
          onChange={(e) => onChange({ state: e.target.value })}
        >
          <option value="">all states</option>
          {STATES.map((s) => (
            <option key={s} value={s}>
              {s}
            </option>
          ))}
        </select>
      </div>
      <div>
        <label htmlFor="filter-since">Scheduled from</label>
        <input
          id="filter-since"
          type="datetime-local"
          value={filters.since}
          onChange={(e) => onChange({ since: e.target.value })}
        />
      </div>
      <div>
        <label htmlFor="filter-until">Scheduled before</label>
        <input
          id="filter-until"
          type="datetime-local"
          value={filters.until}
          onChange={(e) => onChange({ until: e.target.value })}
        />
      </div>
      <div>
        <label htmlFor="filter-labels">Labels (all of, comma-separated)</label>
        <input
          id="filter-labels"
          type="text"
          value={labels}
          onChange={(e) => setLabels(e.target.value)}
          onBlur={() => labels.trim() !== filters.labels && onChange({ labels: labels.trim() })}
        />
      </div>
    </form>
  );
}
