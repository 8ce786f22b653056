// Live updates for the pages that show many runs (dashboard, runs list, a flow): they follow
// GET /api/events and, on a run or agent event, patch what the cache holds or refetch their
// queries, at most once per `throttleMs`, so a burst of events costs one request per query.
// On `ready` (every (re)connection) they refetch, since events may have been missed; while
// the stream is down they refetch at each reconnection attempt instead.
import { type QueryClient, type QueryKey, useQueryClient } from "@tanstack/react-query";
import { useRef } from "react";
import type { FlowRunRecord } from "../../../src/serialization/api-schemas.ts";
import { type LiveEvent, useLiveEvents } from "../live.ts";

/** What a page does with a run event before (or instead of) refetching. */
export type RunPatcher = (client: QueryClient, run: FlowRunRecord) => "patched" | "refetch";

/**
 * Follows /api/events while mounted: `run` events go to `patch` (when given); what it does
 * not handle, and every `agent` event when `agents`, refetch the queries under `keys`.
 */
export function useLiveRefresh(
  keys: readonly QueryKey[],
  options: { patch?: RunPatcher; agents?: boolean; throttleMs?: number } = {},
): void {
  const client = useQueryClient();
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const throttle = options.throttleMs ?? 1000;
  const refetch = () => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      for (const key of keys) void client.invalidateQueries({ queryKey: key });
    }, throttle);
  };
  useLiveEvents(
    "/api/events",
    (event: LiveEvent) => {
      if (event.type === "ready") {
        for (const key of keys) void client.invalidateQueries({ queryKey: key });
      } else if (event.type === "run") {
        const run = event.data as FlowRunRecord;
        if (options.patch === undefined || options.patch(client, run) === "refetch") refetch();
      } else if (event.type === "agent" && options.agents) {
        refetch();
      }
    },
    (status) => {
      // While the stream is down, each reconnection attempt (500 ms, growing to 10 s) refetches
      // instead, so the page stays roughly current against a server without the stream.
      if (status === "retrying") refetch();
    },
  );
}
