// The API's server-sent event streams: one open stream per connection, fed by the
// database's change feed (db/change-feed.ts), written as `event: <type>` +
// `data: <JSON>` blocks.
//
// Decisions:
// - Pull, not push: the response body is a ReadableStream with no buffer of its own
//   (highWaterMark 0), so it hands out text only when the HTTP layer asks for more,
//   which it does once the socket drained. Between reads, changes wait in the
//   stream's queue, which is bounded by the records it holds (`queueLimit`): a
//   run's or an agent's newer record replaces its older one still queued, and when
//   the bound is reached the queue is dropped and the reader gets `ready`
//   (reason "overflow") instead, so it refetches. A slow client costs at most the
//   bound, never more memory.
// - Each change is rendered to text once per form (plain, and masked for read
//   tokens: the same masking functions as the JSON routes), whatever the number
//   of streams.
// - A cap on open streams (`maxStreams`): one more is refused with 503
//   TOO_MANY_STREAMS, before it subscribes.
// - One keepalive timer for every stream (a comment line every `keepaliveMs`),
//   so proxies and browsers do not time an idle stream out.
// - When the server closes (`signal`), every stream ends: a reader waiting gets
//   the end at once, so the HTTP server's close does not wait on streams.
import { WeftError } from "../../core/errors.ts";
import type { LiveReady } from "../../serialization/api-schemas.ts";
import type { Change, ChangeFeed } from "../db/change-feed.ts";
import { maskFlowRun, maskTaskRun } from "./masking.ts";

/** How the streams behave. */
export interface LiveStreamOptions {
  /** Streams open at once; one more is refused with 503 TOO_MANY_STREAMS. @default 1000 */
  readonly maxStreams?: number;
  /** A keepalive comment on every stream this often. @default 15000 */
  readonly keepaliveMs?: number;
  /**
   * Records (runs, task runs, log records, agents) a stream may hold for a reader
   * that does not keep up; above it, they are dropped and the reader gets `ready`.
   * @default 10000
   */
  readonly queueLimit?: number;
  /** The most text handed to the HTTP layer in one piece. @default 256 KiB */
  readonly chunkBytes?: number;
}

/** What one stream follows: every run and agent, or one run (its record, task runs and logs). */
export type LiveTopic = { readonly kind: "all" } | { readonly kind: "run"; readonly runId: string };

/** Counters of the open streams (tests and operators read them). */
export interface LiveStreamStats {
  /** Streams open now. */
  readonly open: number;
  /** Records queued now, over every stream. */
  readonly queued: number;
  /** The most records one stream held at once, since the start. */
  readonly maxQueued: number;
  /** How many times a stream dropped its queue for a slow reader. */
  readonly overflows: number;
}

const encoder = new TextEncoder();
const plainText = new WeakMap<Change, string>();
const maskedText = new WeakMap<Change, string>();

/** The records a change carries (what the queue bound counts). */
function weight(change: Change): number {
  switch (change.kind) {
    case "task-runs":
      return change.taskRuns.length;
    case "logs":
      return change.logs.length;
    default:
      return 1;
  }
}

/** A change as one server-sent event, rendered once per form. */
function render(change: Change, masked: boolean): string {
  // Log records and agents are shown alike to every scope (as by their JSON routes).
  const form = masked && (change.kind === "run" || change.kind === "task-runs");
  const cache = form ? maskedText : plainText;
  let text = cache.get(change);
  if (text !== undefined) return text;
  let data: unknown;
  switch (change.kind) {
    case "run":
      data = form ? maskFlowRun(change.run) : change.run;
      break;
    case "task-runs":
      data = form ? change.taskRuns.map(maskTaskRun) : change.taskRuns;
      break;
    case "logs":
      data = change.logs;
      break;
    case "agent":
      data = change.agent;
      break;
  }
  text = `event: ${change.kind}\ndata: ${JSON.stringify(data)}\n\n`;
  cache.set(change, text);
  return text;
}

function readyEvent(reason: LiveReady["reason"]): string {
  return `event: ready\ndata: ${JSON.stringify({ reason })}\n\n`;
}

/** The key under which a newer record replaces an older one still queued. */
function coalesceKey(change: Change): string | undefined {
  if (change.kind === "run") return `run:${change.run.id}`;
  if (change.kind === "agent") return `agent:${change.agent.id}`;
  return undefined;
}

/** One open stream: its bounded queue and its reader's wake-up. */
class LiveStream {
  private queue: (Change | undefined)[] = [];
  private readonly positions = new Map<string, number>();
  private weight = 0;
  private overflowed = false;
  private keepaliveDue = false;
  private ended = false;
  private wake: (() => void) | undefined;
  private unsubscribe: (() => void) | undefined;
  readonly body: ReadableStream<Uint8Array>;

  constructor(
    private readonly streams: LiveStreams,
    private readonly masked: boolean,
  ) {
    this.body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => controller.enqueue(encoder.encode(readyEvent("connected"))),
        pull: (controller) => this.pull(controller),
        cancel: () => this.end(),
      },
      { highWaterMark: 0 },
    );
  }

  follow(feed: ChangeFeed, topic: LiveTopic): void {
    const listener = (change: Change) => this.push(change);
    this.unsubscribe =
      topic.kind === "all" ? feed.subscribe(listener) : feed.subscribe(listener, topic.runId);
  }

  get queued(): number {
    return this.weight;
  }

  push(change: Change): void {
    if (this.ended || this.overflowed) return;
    const key = coalesceKey(change);
    const at = key === undefined ? undefined : this.positions.get(key);
    if (at !== undefined) {
      this.queue[at] = change; // the newer record of the same run or agent
    } else {
      const w = weight(change);
      if (this.weight + w > this.streams.queueLimit) {
        // The reader does not keep up: drop what waits and tell it to refetch.
        this.queue = [];
        this.positions.clear();
        this.weight = 0;
        this.overflowed = true;
        this.streams.overflowed();
      } else {
        if (key !== undefined) this.positions.set(key, this.queue.length);
        this.queue.push(change);
        this.weight += w;
        this.streams.queuedNow(this.weight);
      }
    }
    this.wakeReader();
  }

  keepalive(): void {
    this.keepaliveDue = true;
    this.wakeReader();
  }

  /** Ends the stream: unsubscribes, and a waiting reader gets the end. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.unsubscribe?.();
    this.queue = [];
    this.positions.clear();
    this.weight = 0;
    this.streams.closed(this);
    this.wakeReader();
  }

  private wakeReader(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private async pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    while (!this.ended && !this.overflowed && !this.keepaliveDue && this.queue.length === 0)
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    if (this.ended) {
      try {
        controller.close();
      } catch {
        // Cancelled by the reader meanwhile: nothing to close.
      }
      return;
    }
    let text = "";
    if (this.overflowed) {
      this.overflowed = false;
      text = readyEvent("overflow");
    } else if (this.queue.length > 0) {
      let taken = 0;
      let taking = 0;
      for (const change of this.queue) {
        if (change !== undefined) {
          text += render(change, this.masked);
          taking += weight(change);
        }
        taken++;
        if (text.length >= this.streams.chunkBytes) break;
      }
      this.queue = taken === this.queue.length ? [] : this.queue.slice(taken);
      this.weight -= taking;
      this.positions.clear();
      for (let i = 0; i < this.queue.length; i++) {
        const key = coalesceKey(this.queue[i]!);
        if (key !== undefined) this.positions.set(key, i);
      }
    }
    if (this.keepaliveDue) {
      this.keepaliveDue = false;
      if (text === "") text = ": keepalive\n\n";
    }
    controller.enqueue(encoder.encode(text));
  }
}

/**
 * The open streams of one API app: opens them (under the cap), keeps them alive,
 * and ends them all when `signal` aborts (the server closing).
 */
export class LiveStreams {
  readonly maxStreams: number;
  readonly keepaliveMs: number;
  readonly queueLimit: number;
  readonly chunkBytes: number;
  private readonly open = new Set<LiveStream>();
  private timer: ReturnType<typeof setInterval> | undefined;
  private maxQueued = 0;
  private overflows = 0;
  private closing = false;

  constructor(
    private readonly feed: ChangeFeed,
    options: LiveStreamOptions = {},
    signal?: AbortSignal,
  ) {
    this.maxStreams = options.maxStreams ?? 1000;
    this.keepaliveMs = options.keepaliveMs ?? 15_000;
    this.queueLimit = options.queueLimit ?? 10_000;
    this.chunkBytes = options.chunkBytes ?? 256 * 1024;
    if (signal !== undefined) {
      if (signal.aborted) this.closing = true;
      else signal.addEventListener("abort", () => this.closeAll(), { once: true });
    }
  }

  /**
   * Opens a stream of `topic`'s changes, `ready` first; `masked` for a read-only
   * caller. Refused with TOO_MANY_STREAMS above the cap or while closing.
   */
  openStream(topic: LiveTopic, masked: boolean): ReadableStream<Uint8Array> {
    if (this.closing) {
      throw new WeftError("TOO_MANY_STREAMS", "the server is closing: it opens no new stream", {
        hint: "connect again once the server is back",
      });
    }
    if (this.open.size >= this.maxStreams) {
      throw new WeftError(
        "TOO_MANY_STREAMS",
        `the server has ${this.open.size} event streams open, its limit (maxEventStreams ${this.maxStreams})`,
        {
          hint: "close other views or tabs following this server, or start it with a higher limit",
        },
      );
    }
    const stream = new LiveStream(this, masked);
    stream.follow(this.feed, topic);
    this.open.add(stream);
    if (this.timer === undefined) {
      this.timer = setInterval(() => {
        for (const s of this.open) s.keepalive();
      }, this.keepaliveMs);
      this.timer.unref?.();
    }
    return stream.body;
  }

  /** The streams' counters. */
  stats(): LiveStreamStats {
    let queued = 0;
    for (const s of this.open) queued += s.queued;
    return { open: this.open.size, queued, maxQueued: this.maxQueued, overflows: this.overflows };
  }

  /** Ends every open stream and opens no more. */
  closeAll(): void {
    this.closing = true;
    for (const s of [...this.open]) s.end();
  }

  /** @internal a stream ended */
  closed(stream: LiveStream): void {
    this.open.delete(stream);
    if (this.open.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** @internal a stream's queue holds `n` records */
  queuedNow(n: number): void {
    if (n > this.maxQueued) this.maxQueued = n;
  }

  /** @internal a stream dropped its queue */
  overflowed(): void {
    this.overflows++;
  }
}
