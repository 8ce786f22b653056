// `startDistributedWorker`, as users and `weft worker start` call it: the worker
// loop of engine/distributed with the code loader that reads flows through their
// storage. The engine imports no storage; this is where the two meet.
import {
  type DistributedWorker,
  type DistributedWorkerOptions,
  startWorkerLoop,
  type WorkerCodeLoader,
} from "../../engine/distributed/distributed-worker.ts";
import { storageFromJSON } from "../../storage/registry.ts";
import { resultBackendFromJSON } from "../../storage/result-backend-registry.ts";

export type { DistributedWorker, DistributedWorkerOptions };

/** Loads a job's flow by rebuilding its storage from JSON (bundle storages verify the bundle's hash). */
const storageCodeLoader: WorkerCodeLoader = {
  async loadFlow(origin) {
    const storage = storageFromJSON(origin.storage);
    const runner = await storage.getRunner(origin.location);
    return runner.flow;
  },
  openResults: (json) => resultBackendFromJSON(json),
};

/**
 * Starts a worker serving `queues` on Redis: it checks Redis (REDIS_UNREACHABLE
 * naming the address after bounded retries), registers its liveness, and runs
 * jobs until {@link DistributedWorker.close}.
 * @example
 * const worker = await startDistributedWorker({ redisUrl: "redis://127.0.0.1:6379", queues: ["default", "gpu"], logger });
 * process.once("SIGTERM", () => void worker.close());
 */
export function startDistributedWorker(
  options: DistributedWorkerOptions,
): Promise<DistributedWorker> {
  return startWorkerLoop(options, storageCodeLoader);
}
