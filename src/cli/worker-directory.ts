// The distributed executor's workers, read from their liveness records in Redis: for the
// server's dashboard (`weft server start --redis`, `weft up --redis`) and `weft worker list`.
//
// Decisions:
// - The server connects on the dashboard's first read, not at start: a server given a
//   Redis that is down still starts, and its dashboard says why the list is empty. A
//   failed connection is tried again on the next read.
// - One connection attempt per read (the dashboard bounds its wait anyway); the
//   distributed runs' own retries are theirs.
import type { Redis } from "ioredis";
import type { WorkerInfo } from "../engine/distributed/distributed-protocol.ts";
import type { DashboardWorker } from "../serialization/dashboard-schemas.ts";
import type { WorkerDirectory } from "../server/api/worker-directory.ts";

/** A worker's liveness record as the API shows it. */
export function workerRecord(info: WorkerInfo): DashboardWorker {
  return {
    name: info.name,
    queues: info.queues,
    concurrency: info.concurrency,
    ...(info.active === undefined ? {} : { active: info.active }),
    host: info.host,
    pid: info.pid,
    startedAt: new Date(info.startedAt).toISOString(),
    ...(info.beatAt === undefined ? {} : { lastHeartbeat: new Date(info.beatAt).toISOString() }),
  };
}

/**
 * Reads the live workers of `prefix` on the Redis at `url`, connecting when first
 * asked; `who` reads them, for the error when Redis cannot be reached.
 */
export async function redisWorkerDirectory(
  url: string,
  prefix: string,
  who: string,
): Promise<WorkerDirectory> {
  const { redisAddress } = await import("../engine/distributed/distributed-protocol.ts");
  const { connectRedis, closeRedis, readLiveWorkers } = await import(
    "../engine/distributed/redis-client.ts"
  );
  let client: Promise<Redis> | undefined;
  let closed = false;
  return {
    source: `${redisAddress(url)} (prefix ${prefix})`,
    async list() {
      if (closed) return [];
      if (client === undefined) {
        const connecting = connectRedis(url, { attempts: 1, who });
        connecting.catch(() => {
          if (client === connecting) client = undefined;
        });
        client = connecting;
      }
      const connected = client;
      const workers = await readLiveWorkers(await connected, prefix);
      return workers.map(workerRecord).sort((a, b) => a.name.localeCompare(b.name));
    },
    async close() {
      closed = true;
      const open = client;
      client = undefined;
      if (open !== undefined) await closeRedis(await open.catch(() => undefined));
    },
  };
}
