// The executor conformance suite (../executor.case.ts) on the distributed
// executor: real Redis (WEFT_TEST_REDIS_URL) and two real `weft worker`
// processes that load the fixture module from a local storage. The inline limit
// is 1000 bytes, so the large-input case travels by reference.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLocalStorage } from "../../../src/storage/local-storage.ts";
import {
  dropPrefix,
  noRedis,
  reapWorkers,
  redisUrl,
  startWorkers,
  uniquePrefix,
} from "../../fixtures/distributed/worker-processes.ts";
import { runExecutorConformance } from "../executor.case.ts";

runExecutorConformance(
  "distributed",
  async () => {
    const tmp = await mkdtemp(join(tmpdir(), "weft-dist-conformance-"));
    const prefix = uniquePrefix("conformance");
    const workers = await startWorkers(2, { prefix, home: join(tmp, "home"), concurrency: 4 });
    const storage = createLocalStorage({
      directory: join(tmp, "flows"),
      cacheDir: join(tmp, "cache"),
      hostnameLabel: false,
    });
    return {
      async run(flow, options) {
        const location = storage.addFlow(flow);
        await storage.build();
        return flow.run({
          ...options,
          executor: {
            type: "distributed",
            redisUrl: redisUrl!,
            prefix,
            origin: { storage: storage.toJSON(), location },
            inlineLimitBytes: 1000,
          },
        });
      },
      async close() {
        await Promise.all(workers.map((w) => w.stop()));
        reapWorkers();
        await dropPrefix(prefix);
        await rm(tmp, { recursive: true, force: true });
      },
    };
  },
  { describe: { skip: noRedis } },
);
