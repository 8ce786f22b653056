// Batches the writes of many runs' reporters into one request (POST /api/run-writes):
// an agent runs many short runs at once, and each run's reporter makes a few writes
// (Running, task states, logs, the final state). Sent one request per write, the
// server's per-request cost (HTTP, validation, a transaction) bounds the agent's
// runs/s; batched, a run costs a share of one request.
//
// Decisions:
// - Group commit: one request in flight. A write that arrives while none is waits for
//   the end of the current turn of the event loop (writes made together go together);
//   one that arrives while one is in flight goes with the next, which leaves as soon as
//   that answer is in. So a lone write is not delayed by a timer, and under load
//   requests grow instead of multiplying.
// - Each write keeps its own outcome: the server applies each whole or refuses it
//   alone, and a refused write rejects only its caller's promise, with the error its
//   own route would have thrown (so the reporter's rules, lost runs and refused
//   content, hold unchanged). A failed request rejects every write it carried; each
//   reporter retries its own, and they batch again.
// - A batch carries at most `maxItems` task states and log lines (and at least one
//   write), so it stays near one reporter batch in size; a request refused as too
//   large is sent again one write a request, so one large write fails only itself.
// - `writeInOrder`: a run's writes that must follow one another (Running, task states,
//   the final state) go in one request, never split, and the server applies each only
//   if the one before it was taken (RUN_WRITE_SKIPPED otherwise). A run then waits for one
//   answer, not one per write.
import type { LogRecord } from "../core/reporter.ts";
import type { RunWrite, RunWriteResult, TaskRunStateWrite } from "../serialization/api-schemas.ts";
import type { SerializedState } from "../serialization/schemas.ts";
import { runWriteError } from "./api-client.ts";
import type { ReportingApi } from "./api-reporter.ts";

/** The part of the API a batcher writes through (the API client has it). */
export interface RunWritesApi {
  writeRuns(writes: readonly RunWrite[]): Promise<RunWriteResult[]>;
}

/** How a batcher batches. */
export interface RunWritesBatcherOptions {
  /** Task states plus log lines in one request (a single larger write goes alone). @default 2000 */
  readonly maxItems?: number;
  /** Writes in one request (the API's limit is 1000). @default 500 */
  readonly maxWrites?: number;
}

interface Pending {
  /** One write, or a run's writes that go together in order (`writeInOrder`). */
  readonly writes: readonly RunWrite[];
  readonly resolve: (results: RunWriteResult[]) => void;
  readonly reject: (error: unknown) => void;
}

function itemsOf(write: RunWrite): number {
  return write.kind === "taskRunStates"
    ? write.states.length
    : write.kind === "logs"
      ? write.logs.length
      : 1;
}

/** The write's own outcome: its result when taken, else the error its own route would throw. */
function outcome(result: RunWriteResult | undefined): Extract<RunWriteResult, { ok: true }> {
  if (result === undefined) throw new Error("the server answered fewer results than writes");
  if (!result.ok) throw runWriteError(result);
  return result;
}

/**
 * A {@link ReportingApi} for every run of an agent: each call becomes one write of a
 * shared batch (see the header); its promise settles with that write's own outcome.
 */
export function createRunWritesBatcher(
  api: RunWritesApi,
  options: RunWritesBatcherOptions = {},
): ReportingApi {
  const maxItems = options.maxItems ?? 2000;
  const maxWrites = Math.min(options.maxWrites ?? 500, 1000);
  let queue: Pending[] = [];
  let inFlight = false;
  let scheduled = false;

  const take = (): Pending[] => {
    let items = 0;
    let writes = 0;
    let n = 0;
    while (n < queue.length) {
      const next = queue[n]!.writes;
      const size = next.reduce((sum, w) => sum + itemsOf(w), 0);
      if (n > 0 && (items + size > maxItems || writes + next.length > maxWrites)) break;
      items += size;
      writes += next.length;
      n++;
    }
    const batch = queue.slice(0, n);
    queue = queue.slice(n);
    return batch;
  };

  async function send(batch: readonly Pending[]): Promise<void> {
    let results: RunWriteResult[];
    try {
      results = await api.writeRuns(batch.flatMap((p) => p.writes));
    } catch (error) {
      if (batch.length > 1 && (error as { status?: unknown }).status === 413) {
        // Too large together: each alone, so a write too large by itself fails only itself.
        for (const p of batch) await send([p]);
        return;
      }
      for (const p of batch) p.reject(error);
      return;
    }
    let at = 0;
    for (const p of batch) {
      p.resolve(results.slice(at, at + p.writes.length));
      at += p.writes.length;
    }
  }

  const pump = async (): Promise<void> => {
    scheduled = false;
    if (inFlight) return;
    inFlight = true;
    try {
      while (queue.length > 0) await send(take());
    } finally {
      inFlight = false;
    }
  };

  const enqueue = (writes: readonly RunWrite[]): Promise<RunWriteResult[]> =>
    new Promise((resolve, reject) => {
      queue.push({ writes, resolve, reject });
      if (!inFlight && !scheduled) {
        scheduled = true;
        setImmediate(() => void pump());
      }
    });
  const one = async (write: RunWrite) => outcome((await enqueue([write]))[0]);

  return {
    async setTaskRunStates(states: TaskRunStateWrite[]): Promise<number[]> {
      return (await one({ kind: "taskRunStates", states })).versions ?? [];
    },
    async setFlowRunState(flowRunId: string, state: SerializedState, version: number) {
      const result = await one({ kind: "flowRunState", flowRunId, state, version });
      return { version: result.version ?? version };
    },
    async ingestLogs(records: LogRecord[]): Promise<void> {
      await one({ kind: "logs", logs: records as Extract<RunWrite, { kind: "logs" }>["logs"] });
    },
    writeInOrder: (writes) => enqueue(writes),
  };
}
