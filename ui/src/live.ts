// Live updates: one server-sent events stream per view. The stream is read with fetch
// (not EventSource) so that it can carry the Authorization header; it reconnects with
// a growing delay when the connection drops, and says so through `onStatus`.
//
// The server's streams (see docs/ui.md, "Live updates"):
//   GET /api/events                  runs created and changed, agents' heartbeats
//   GET /api/flow-runs/:id/events    one run: its state, its task runs' states, its logs
// Each event is `event: <type>` + `data: <JSON>`; types are in LiveEventType.
import { useEffect, useRef } from "react";
import { currentToken } from "./api.ts";

/** The event types the server sends. */
export const LIVE_EVENT_TYPES = ["ready", "run", "task-runs", "logs", "agent"] as const;
export type LiveEventType = (typeof LIVE_EVENT_TYPES)[number];

export interface LiveEvent {
  readonly type: LiveEventType;
  readonly data: unknown;
}

export type LiveStatus = "connecting" | "live" | "retrying";

/** Parses SSE text into events; answers the events and the unparsed rest. */
export function parseSse(buffer: string): { events: LiveEvent[]; rest: string } {
  const events: LiveEvent[] = [];
  let rest = buffer;
  for (;;) {
    const end = rest.indexOf("\n\n");
    if (end < 0) break;
    const block = rest.slice(0, end);
    rest = rest.slice(end + 2);
    let type = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line.startsWith(":")) continue;
      if (line.startsWith("event:")) type = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).trimStart());
    }
    if (!(LIVE_EVENT_TYPES as readonly string[]).includes(type) || data.length === 0) continue;
    try {
      events.push({ type: type as LiveEventType, data: JSON.parse(data.join("\n")) });
    } catch {
      // A malformed event is dropped; the next refetch brings the truth.
    }
  }
  return { events, rest };
}

/**
 * Follows one stream while the component is mounted. `onEvent` gets every event
 * (`ready` on each (re)connection: refetch then, for what was missed while away).
 */
export function useLiveEvents(
  path: string | undefined,
  onEvent: (event: LiveEvent) => void,
  onStatus?: (status: LiveStatus) => void,
): void {
  const handler = useRef(onEvent);
  handler.current = onEvent;
  const status = useRef(onStatus);
  status.current = onStatus;
  useEffect(() => {
    if (path === undefined) return;
    const stop = new AbortController();
    let delay = 500;
    const run = async () => {
      while (!stop.signal.aborted) {
        status.current?.("connecting");
        try {
          const token = currentToken();
          const res = await fetch(path, {
            headers: {
              accept: "text/event-stream",
              ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
            },
            signal: stop.signal,
          });
          if (!res.ok || res.body === null) throw new Error(`stream answered ${res.status}`);
          status.current?.("live");
          delay = 500;
          const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            const parsed = parseSse(buffer + value.replaceAll("\r\n", "\n"));
            buffer = parsed.rest;
            for (const event of parsed.events) handler.current(event);
          }
        } catch {
          if (stop.signal.aborted) return;
        }
        status.current?.("retrying");
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    };
    void run();
    return () => stop.abort();
  }, [path]);
}
