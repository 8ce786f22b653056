// Where the dashboard learns about the distributed executor's workers.
//
// Workers talk to Redis, never to the server: each keeps a liveness record there
// (engine/distributed). The server part may not import the engine, so whoever starts
// the server (the CLI, with `--redis`) hands it a WorkerDirectory that reads those
// records; without one the dashboard says the server was not told where workers are.
//
// Decisions:
// - A directory that fails or hangs (Redis down, a dropped connection whose
//   commands queue until it is back) never fails or holds the dashboard: the read
//   is bounded by LIST_TIMEOUT_MS and its error becomes the answer's `error`,
//   naming the source, while agents, runs and failures are answered as usual.
import type { DashboardWorker, DashboardWorkers } from "../../serialization/dashboard-schemas.ts";

/** The live workers of one Redis key prefix. */
export interface WorkerDirectory {
  /** Which Redis and prefix, for people (an address, never a password). */
  readonly source: string;
  /** The workers alive now, by name. */
  list(): Promise<readonly DashboardWorker[]>;
  /** Releases its connection. Idempotent. */
  close(): Promise<void>;
}

/** The longest the dashboard waits for the worker list. */
export const LIST_TIMEOUT_MS = 2000;

/** The dashboard's `workers`: the directory's list, or why there is none. */
export async function listWorkers(
  directory: WorkerDirectory | undefined,
  timeoutMs = LIST_TIMEOUT_MS,
): Promise<DashboardWorkers> {
  if (directory === undefined) return { items: [] };
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const items = await Promise.race([directory.list(), late]);
    return {
      source: directory.source,
      items: [...items],
    };
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    return {
      source: directory.source,
      items: [],
      error: `cannot read the workers from ${directory.source}: ${why}`,
    };
  } finally {
    clearTimeout(timer);
  }
}
