// The run page's data: the run's detail (with its task runs), its flow version (for the graph),
// its logs, all kept live by the run's event stream.
//
// Decisions:
// - One query per run (`["flow-run", id]`) holds the detail; stream events patch it in place
//   (task runs merged by slug and map index, newer versions win), batched per 50 ms so a burst
//   of 10,000 task-run changes costs one merge and one render, well inside the 500 ms budget.
// - The page's first read brings the run's flow version along (`GET /api/flow-runs/:id?include=flow`)
//   and puts it in the flow's query: one request for the run and its graph, not the run and then,
//   knowing its flowId, the flow. Later reads leave it out: a flow version never changes.
// - The stream's `ready` never cancels a read in flight (the page would wait for the stream's
//   connection, then read again): the read finishes, and the detail is read once more after `ready`.
// - While the stream is not live (server without it, reconnecting), an unfinished run is
//   refetched every second, so the page never freezes on a stale state.
// - Logs are paged oldest first through the logs route's cursor; live log events are appended
//   once the pages are caught up (before that, paging brings them), deduplicated by id.
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { isStateA, STATE_TYPES } from "../../../src/core/states.ts";
import type {
  FlowRunDetail,
  FlowRunRecord,
  LogEntry,
  TaskRunRecord,
} from "../../../src/serialization/api-schemas.ts";
import { api } from "../api.ts";
import type { GraphNodeState } from "../components/flow-graph.tsx";
import { type LiveEvent, type LiveStatus, useLiveEvents } from "../live.ts";

/** States after which a run or task run changes no more: Finished and its descendants in core's tree. */
export const FINISHED_STATES: ReadonlySet<string> = new Set(
  STATE_TYPES.filter((type) => isStateA(type, "Finished")),
);

/** States a run can be cancelled in. */
export function isCancellable(type: string): boolean {
  return !FINISHED_STATES.has(type) && type !== "Cancelling";
}

export const runKey = (id: string) => ["flow-run", id] as const;
const flowKey = (flowId: string | undefined) => ["flow", flowId] as const;

/** A task run's key: its slug, and `[i]` for a mapped child. */
export function taskRunKey(t: { slug: string; mapIndex?: number | undefined }): string {
  return t.mapIndex === undefined ? t.slug : `${t.slug}[${t.mapIndex}]`;
}

/** Merges changed task runs into a list (a newer or equal version replaces the old one). */
export function mergeTaskRuns(
  old: readonly TaskRunRecord[],
  changed: readonly TaskRunRecord[],
): TaskRunRecord[] {
  const at = new Map<string, number>();
  for (let i = 0; i < old.length; i++) at.set(taskRunKey(old[i]!), i);
  const out = old.slice();
  for (const t of changed) {
    const i = at.get(taskRunKey(t));
    if (i === undefined) {
      at.set(taskRunKey(t), out.length);
      out.push(t);
    } else if (t.version >= out[i]!.version) out[i] = t;
  }
  return out;
}

/** Applies a run record to the detail: new fields, and its state appended to the history. */
export function applyRun(detail: FlowRunDetail, run: FlowRunRecord): FlowRunDetail {
  if (run.version < detail.version) return detail;
  const last = detail.history[detail.history.length - 1];
  const history =
    last !== undefined && last.timestamp === run.state.timestamp && last.type === run.state.type
      ? detail.history
      : [...detail.history, run.state];
  return { ...detail, ...run, history };
}

/** The run's graph states: one per task, with per-state counts of a mapped task's children. */
export function nodeStates(taskRuns: readonly TaskRunRecord[]): Record<string, GraphNodeState> {
  const out: Record<string, GraphNodeState> = {};
  const counts = new Map<string, Record<string, number>>();
  for (const t of taskRuns) {
    if (t.mapIndex === undefined) {
      out[t.slug] = { type: t.state.type, message: t.state.message };
    } else {
      let c = counts.get(t.slug);
      if (c === undefined) {
        c = {};
        counts.set(t.slug, c);
      }
      c[t.state.type] = (c[t.state.type] ?? 0) + 1;
    }
  }
  for (const [slug, children] of counts) {
    const base = out[slug];
    out[slug] = { type: base?.type ?? summaryType(children), message: base?.message, children };
  }
  return out;
}

// A mapped node seen only through its children: the "worst" state among them.
function summaryType(children: Record<string, number>): string {
  for (const type of [
    "Failed",
    "TimedOut",
    "TriggerFailed",
    "Running",
    "Retrying",
    "Paused",
    "Pending",
  ]) {
    if ((children[type] ?? 0) > 0) return type;
  }
  return Object.keys(children)[0] ?? "Pending";
}

/** The run's detail, live. */
export function useRunDetail(id: string) {
  const queries = useQueryClient();
  const [status, setStatus] = useState<LiveStatus>("connecting");
  const pending = useRef<{ run?: FlowRunRecord; taskRuns: TaskRunRecord[] }>({ taskRuns: [] });
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const logSink = useRef<((logs: LogEntry[]) => void) | undefined>(undefined);
  // Called on every `ready` (connected, reconnected, or events dropped): logs read again.
  const onReady = useRef<(() => void) | undefined>(undefined);

  const query = useQuery({
    queryKey: runKey(id),
    queryFn: async () => {
      const flowId = queries.getQueryData<FlowRunDetail>(runKey(id))?.flowId;
      const known = flowId !== undefined && queries.getQueryData(flowKey(flowId)) !== undefined;
      const { flow, ...detail } = await api().getFlowRun(id, known ? {} : { include: "flow" });
      if (flow !== undefined) queries.setQueryData(flowKey(flow.id), flow);
      return detail;
    },
    refetchInterval: (q) =>
      status !== "live" &&
      q.state.data !== undefined &&
      !FINISHED_STATES.has(q.state.data.state.type)
        ? 1000
        : false,
  });

  const flush = useCallback(() => {
    timer.current = undefined;
    const { run, taskRuns } = pending.current;
    pending.current = { taskRuns: [] };
    queries.setQueryData<FlowRunDetail>(runKey(id), (old) => {
      if (old === undefined) return old;
      let next = old;
      if (run !== undefined) next = applyRun(next, run);
      if (taskRuns.length > 0) next = { ...next, taskRuns: mergeTaskRuns(next.taskRuns, taskRuns) };
      return next;
    });
  }, [id, queries]);

  useEffect(() => () => clearTimeout(timer.current), []);

  const onEvent = useCallback(
    (event: LiveEvent) => {
      switch (event.type) {
        case "ready": {
          const key = runKey(id);
          if (queries.isFetching({ queryKey: key }) > 0) {
            // The page's first read (with the flow's graph) is still in flight: let it finish,
            // then read once more, since the server may have answered it before this stream
            // was subscribed.
            void queries
              .refetchQueries({ queryKey: key }, { cancelRefetch: false })
              .then(() => queries.invalidateQueries({ queryKey: key }));
          } else void queries.invalidateQueries({ queryKey: key });
          onReady.current?.();
          return;
        }
        case "run":
          pending.current.run = event.data as FlowRunRecord;
          break;
        case "task-runs":
          pending.current.taskRuns.push(...asArray<TaskRunRecord>(event.data));
          break;
        case "logs":
          logSink.current?.(asArray<LogEntry>(event.data));
          return;
        default:
          return;
      }
      timer.current ??= setTimeout(flush, 50);
    },
    [flush, id, queries],
  );
  useLiveEvents(`/api/flow-runs/${encodeURIComponent(id)}/events`, onEvent, setStatus);
  return { query, status, logSink, onReady };
}

function asArray<T>(data: unknown): T[] {
  if (Array.isArray(data)) return data as T[];
  if (
    data !== null &&
    typeof data === "object" &&
    Array.isArray((data as { items?: unknown }).items)
  )
    return (data as { items: T[] }).items;
  return [];
}

/**
 * The flow version a run runs (its graph and parameters); versions never change. The run's
 * first read fills it; it is fetched on its own only when that read did not bring it (an older
 * server).
 */
export function useFlowDetail(flowId: string | undefined) {
  return useQuery({
    queryKey: flowKey(flowId),
    queryFn: () => api().getFlow(flowId!),
    enabled: flowId !== undefined,
    staleTime: Number.POSITIVE_INFINITY,
  });
}

export interface RunLogs {
  readonly entries: readonly LogEntry[];
  /** True while a page is loading. */
  readonly loading: boolean;
  /** True when there are older pages not loaded yet. */
  readonly more: boolean;
  readonly error: unknown;
  loadMore(): void;
  /**
   * Without a live stream: pages through the logs again from the start and adds the new
   * lines (only while caught up and under REFRESH_MAX lines; beyond that, the stream's job).
   */
  refresh(): void;
}

const REFRESH_MAX = 5000;

const LOG_PAGE = 500;

/** The run's logs: paged through the cursor, then followed live through `sink`. */
export function useRunLogs(
  id: string,
  sink: React.RefObject<((logs: LogEntry[]) => void) | undefined>,
): RunLogs {
  const [entries, setEntries] = useState<LogEntry[]>([]);
  const [cursor, setCursor] = useState<string | undefined>(undefined);
  const [more, setMore] = useState(true);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const seen = useRef(new Set<string>());
  const caughtUp = useRef(false);

  const add = useCallback((items: readonly LogEntry[]) => {
    const fresh = items.filter((e) => !seen.current.has(e.id));
    if (fresh.length === 0) return;
    for (const e of fresh) seen.current.add(e.id);
    setEntries((old) => [...old, ...fresh]);
  }, []);

  const load = useCallback(
    async (from: string | undefined) => {
      setLoading(true);
      try {
        const page = await api().listLogs(id, {
          limit: LOG_PAGE,
          ...(from === undefined ? {} : { cursor: from }),
        });
        add(page.items);
        setCursor(page.nextCursor);
        setMore(page.nextCursor !== undefined);
        caughtUp.current = page.nextCursor === undefined;
        setError(undefined);
      } catch (e) {
        setError(e);
      } finally {
        setLoading(false);
      }
    },
    [id, add],
  );

  const refreshing = useRef(false);
  const refresh = useCallback(async () => {
    if (!caughtUp.current || refreshing.current || seen.current.size > REFRESH_MAX) return;
    refreshing.current = true;
    try {
      let from: string | undefined;
      do {
        const page = await api().listLogs(id, {
          limit: LOG_PAGE,
          ...(from === undefined ? {} : { cursor: from }),
        });
        add(page.items);
        from = page.nextCursor;
      } while (from !== undefined);
    } catch {
      // The next refresh (or the stream) tries again.
    } finally {
      refreshing.current = false;
    }
  }, [id, add]);

  useEffect(() => {
    seen.current = new Set();
    caughtUp.current = false;
    setEntries([]);
    void load(undefined);
  }, [load]);

  useEffect(() => {
    sink.current = (logs) => {
      if (caughtUp.current) add(logs);
    };
    return () => {
      sink.current = undefined;
    };
  }, [sink, add]);

  return useMemo(
    () => ({
      entries,
      loading,
      more,
      error,
      loadMore: () => void load(cursor),
      refresh,
    }),
    [entries, loading, more, error, load, cursor, refresh],
  );
}
