// What the runs view (/runs) asks the API for, from its URL's query string: its filters and the
// page's cursor. A module of its own, with no dependency, because the app's entry reads the same
// first page before the view's code has loaded (first-read.ts).
import type { ListFlowRunsOptions } from "../../../src/client/api-client.ts";

/** The filters the runs view keeps in its URL. */
export const RUN_FILTERS = ["flow", "state", "since", "until", "labels"] as const;
export type RunFilter = (typeof RUN_FILTERS)[number];

/** Runs per page. */
export const RUNS_PAGE_SIZE = 50;

/** The filters in a URL's query string (absent ones as ""). */
export function runFilters(params: URLSearchParams): Record<RunFilter, string> {
  return Object.fromEntries(RUN_FILTERS.map((f) => [f, params.get(f) ?? ""])) as Record<
    RunFilter,
    string
  >;
}

/** The GET /api/flow-runs options of the page a URL's query string shows. */
export function runsPageOptions(params: URLSearchParams): ListFlowRunsOptions {
  const filters = runFilters(params);
  const cursor = params.get("cursor");
  const since = isoOf(filters.since);
  const until = isoOf(filters.until);
  return {
    limit: RUNS_PAGE_SIZE,
    ...(filters.flow ? { flowName: filters.flow } : {}),
    ...(filters.state ? { state: filters.state } : {}),
    ...(since === undefined ? {} : { since }),
    ...(until === undefined ? {} : { until }),
    ...(filters.labels ? { labels: filters.labels } : {}),
    ...(cursor ? { cursor } : {}),
  };
}

/** A `datetime-local` value (local time, minutes) as an ISO time, or undefined. */
function isoOf(local: string): string | undefined {
  if (local === "") return undefined;
  const ms = Date.parse(local);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}
