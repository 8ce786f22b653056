// Reading the API's server-sent event streams (GET /api/events,
// GET /api/flow-runs/:id/events) from a fetch Response body, in Node and in browsers.
//
// Decisions:
// - The body is read with fetch, not EventSource: EventSource cannot send the
//   Authorization header, and a token never goes into a URL.
// - The parser follows the SSE format (lines ending in LF, CRLF or CR; `:` comments;
//   several `data:` lines joined by LF; a blank line ends an event) and keeps only
//   `event` and `data`: the API sends no ids and no retry hints.
// - Each event's data is parsed with the schema the server documents it with; an
//   event type this client does not know (a newer server) is skipped, an event that
//   does not match its schema ends the stream with API_ERROR.
// - No reconnection here: the caller decides (the UI's live.ts reconnects and
//   refetches on `ready`, as the API asks).
import { WeftError } from "../core/errors.ts";
import {
  LIVE_EVENT_TYPES,
  type LiveEvent,
  type LiveEventType,
  liveEventSchemas,
} from "../serialization/api-schemas.ts";

/** One raw event: its name (`message` when it had none) and its data lines joined. */
export interface RawServerEvent {
  readonly event: string;
  readonly data: string;
}

/** An incremental server-sent events parser: feed it text as it arrives. */
export class ServerEventParser {
  private buffer = "";
  private event = "";
  private data: string[] = [];

  /** The events completed by `text` (text may end mid-line: the rest is kept). */
  push(text: string): RawServerEvent[] {
    const out: RawServerEvent[] = [];
    this.buffer += text;
    let start = 0;
    for (;;) {
      const lf = this.buffer.indexOf("\n", start);
      const cr = this.buffer.indexOf("\r", start);
      let end = lf < 0 ? cr : cr < 0 ? lf : Math.min(lf, cr);
      if (end < 0) break;
      // A CR at the very end may be the first half of a CRLF: wait for the next text.
      if (end === cr && cr === this.buffer.length - 1) break;
      const line = this.buffer.slice(start, end);
      if (end === cr && this.buffer[cr + 1] === "\n") end++;
      start = end + 1;
      this.line(line, out);
    }
    this.buffer = this.buffer.slice(start);
    return out;
  }

  private line(line: string, out: RawServerEvent[]): void {
    if (line === "") {
      if (this.data.length > 0)
        out.push({ event: this.event || "message", data: this.data.join("\n") });
      this.event = "";
      this.data = [];
      return;
    }
    if (line.startsWith(":")) return;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "event") this.event = value;
    else if (field === "data") this.data.push(value);
  }
}

const KNOWN: ReadonlySet<string> = new Set(LIVE_EVENT_TYPES);

/** A raw event as a typed LiveEvent (undefined for a type this client does not know). */
export function toLiveEvent(raw: RawServerEvent, source: string): LiveEvent | undefined {
  if (!KNOWN.has(raw.event)) return undefined;
  const type = raw.event as LiveEventType;
  let json: unknown;
  try {
    json = JSON.parse(raw.data);
  } catch {
    throw unreadable(source, type, "its data is not JSON");
  }
  const parsed = liveEventSchemas[type].safeParse(json);
  if (!parsed.success) {
    throw unreadable(
      source,
      type,
      parsed.error.issues
        .slice(0, 3)
        .map((i) => `${i.path.join(".") || "(data)"}: ${i.message}`)
        .join("; "),
    );
  }
  return { type, data: parsed.data } as LiveEvent;
}

function unreadable(source: string, type: string, problem: string): WeftError {
  return new WeftError("API_ERROR", `unexpected ${type} event from ${source}: ${problem}`, {
    hint: "the server and this client may be different versions of weft",
  });
}

/**
 * The typed events of a stream's body, until the server ends it or `signal`
 * aborts (then the iteration just ends). Breaking out of the loop cancels the body.
 */
export async function* readLiveEvents(
  body: ReadableStream<Uint8Array>,
  source: string,
  signal?: AbortSignal,
): AsyncGenerator<LiveEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new ServerEventParser();
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal?.aborted) return;
        throw error;
      }
      if (chunk.done) return;
      for (const raw of parser.push(decoder.decode(chunk.value, { stream: true }))) {
        const event = toLiveEvent(raw, source);
        if (event !== undefined) yield event;
      }
    }
  } finally {
    reader.cancel().catch(() => {});
  }
}
