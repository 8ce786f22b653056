// Trigger functions with the distributed executor: the walk judges them in the
// flow-run process, so no function crosses to a worker, and the states equal a
// local run's. Real Redis (WEFT_TEST_REDIS_URL) and a real `weft worker`.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { createLocalStorage } from "../../../src/storage/local-storage.ts";
import { distTriggerFlow, judgedIn } from "../../fixtures/distributed/trigger-dist-flows.ts";
import {
  dropPrefix,
  noRedis,
  reapWorkers,
  redisUrl,
  startWorkers,
  uniquePrefix,
} from "../../fixtures/distributed/worker-processes.ts";

describe("trigger functions on the distributed executor", {
  skip: noRedis,
  timeout: 120_000,
}, () => {
  test("are judged in the flow-run process, child by child; states equal a local run's", async () => {
    const tmp = await mkdtemp(join(tmpdir(), "weft-dist-triggers-"));
    const prefix = uniquePrefix("triggers");
    const workers = await startWorkers(1, { prefix, home: join(tmp, "home"), concurrency: 2 });
    try {
      const storage = createLocalStorage({
        directory: join(tmp, "flows"),
        cacheDir: join(tmp, "cache"),
        hostnameLabel: false,
      });
      const location = storage.addFlow(distTriggerFlow);
      await storage.build();
      judgedIn.length = 0;
      const run = await distTriggerFlow.run({
        executor: {
          type: "distributed",
          redisUrl: redisUrl!,
          prefix,
          origin: { storage: storage.toJSON(), location },
        },
      });
      assert.deepEqual(judgedIn, [process.pid, process.pid, process.pid, process.pid]);
      const local = await distTriggerFlow.run();
      const view = (r: typeof run) =>
        [...r.taskStates].map(([slug, s]) => [slug, s.type, s.children?.map((c) => c.type)]);
      assert.deepEqual(view(run), view(local));
      assert.deepEqual(run.result(distTriggerFlow.outputs.kept), [0, undefined, 20, undefined]);
      assert.deepEqual(run.result(distTriggerFlow.outputs.recovered), [
        undefined,
        "recovered undefined",
        undefined,
        "recovered undefined",
      ]);
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      reapWorkers();
      await dropPrefix(prefix);
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
