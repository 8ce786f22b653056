// The distributed environment against real Redis and real `weft worker`
// processes: what setup checks up front (Redis, a live worker for the queue,
// a storage workers can load), what its JSON may hold, then the environment
// conformance suite. The workers share this machine, so local storage (one
// path for all) is a storage they can load.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  createDistributedEnvironment,
  type DistributedEnvironmentOptions,
} from "../../../src/environments/distributed/distributed-environment.ts";
import { environmentFromJSON } from "../../../src/environments/registry.ts";
import { createLocalStorage } from "../../../src/storage/local-storage.ts";
import { createMemoryStorage } from "../../../src/storage/memory-storage.ts";
import type { Storage } from "../../../src/storage/storage.ts";
import {
  dropPrefix,
  noRedis,
  reapWorkers,
  redisUrl,
  startWorkers,
  uniquePrefix,
  type WorkerProcess,
} from "../../fixtures/distributed/worker-processes.ts";
import { greetFlow } from "../../fixtures/environments/env-flows.ts";
import { expectCode } from "../../support/expect-code.ts";
import { runEnvironmentConformance } from "../environment.case.ts";

const prefix = uniquePrefix("env");
const variable = `WEFT_TEST_DIST_REDIS_${process.pid}`;
let workers: WorkerProcess[] = [];
let home = "";

before(async () => {
  if (noRedis) return;
  process.env[variable] = redisUrl;
  home = await mkdtemp(join(tmpdir(), "weft-dist-env-"));
  workers = await startWorkers(2, { prefix, home, concurrency: 4 });
});
after(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  reapWorkers();
  await dropPrefix(prefix);
  delete process.env[variable];
  if (home) await rm(home, { recursive: true, force: true });
});

function environment(options: DistributedEnvironmentOptions = {}) {
  return createDistributedEnvironment({ redis: `env:${variable}`, prefix, ...options });
}

function localStorageIn(tmp: string): Storage {
  return createLocalStorage({
    directory: join(tmp, "flows"),
    cacheDir: join(tmp, "cache"),
    hostnameLabel: false,
  });
}

describe("distributed environment: setup and configuration", { skip: noRedis }, () => {
  test("setup accepts a shareable storage when a live worker serves the queue", async () => {
    await environment().setup(localStorageIn(home));
  });

  test("setup refuses a queue no live worker serves, with the command that starts one", async () => {
    const error = await expectCode(
      () => environment({ queue: "gpu" }).setup(localStorageIn(home)),
      "NO_LIVE_WORKER",
      "a queue nobody serves",
    );
    assert.match(
      error.message,
      /no live weft worker serves queue "gpu" on redis:\/\/127\.0\.0\.1:\d+/,
    );
    assert.match(error.message, /live workers serve: default/);
    assert.match(
      error.hint ?? "",
      /weft worker start --redis .* --queues gpu --prefix weft-test-env-/,
    );
  });

  test("setup refuses an unreachable Redis, naming the address and never the password", async () => {
    process.env[`${variable}_BAD`] = "redis://:hunter2@127.0.0.1:1";
    try {
      const error = await expectCode(
        () =>
          createDistributedEnvironment({ redis: `env:${variable}_BAD` }).setup(
            localStorageIn(home),
          ),
        "REDIS_UNREACHABLE",
        "a Redis nobody listens on",
      );
      assert.match(error.message, /redis:\/\/127\.0\.0\.1:1/);
      assert.ok(!error.message.includes("hunter2"));
    } finally {
      delete process.env[`${variable}_BAD`];
    }
  });

  test("an unset Redis variable is named", async () => {
    const error = await expectCode(
      () =>
        createDistributedEnvironment({ redis: "env:WEFT_TEST_NEVER_SET" }).setup(
          localStorageIn(home),
        ),
      "REDIS_UNREACHABLE",
      "an unset variable",
    );
    assert.match(error.message, /WEFT_TEST_NEVER_SET, which is not set/);
  });

  test("a storage workers cannot load is refused up front, with the shared-path hint", async () => {
    const error = await expectCode(
      () => environment().setup(createMemoryStorage()),
      "STORAGE_NOT_SHAREABLE",
      "memory storage",
    );
    assert.match(error.message, /distributed environment .* memory storage/);
    assert.match(
      error.hint ?? "",
      /local storage works only when every worker sees the same directory/,
    );
  });

  test("the JSON names where the Redis URL comes from; a URL with a password is refused", async () => {
    const json = createDistributedEnvironment().toJSON();
    assert.deepEqual(json, {
      type: "distributed",
      schemaVersion: 1,
      labels: [],
      redis: "env:WEFT_REDIS_URL",
      queue: "default",
    });
    assert.deepEqual(environmentFromJSON(json).toJSON(), json);
    await expectCode(
      () => createDistributedEnvironment({ redis: "redis://:hunter2@cache:6379" }),
      "CREDENTIAL_IN_CONFIG",
      "a password in the URL",
    );
    await expectCode(
      () => environmentFromJSON({ ...json, redis: "redis://user:hunter2@cache:6379" }),
      "CREDENTIAL_IN_CONFIG",
      "a password in the JSON",
    );
    const plain = createDistributedEnvironment({ redis: "redis://cache:6379", queue: "etl" });
    assert.equal(
      plain.toJSON().redis,
      "redis://cache:6379",
      "a URL without a password may be stored",
    );
  });

  test("a flow serialized for the distributed environment refuses memory storage", async () => {
    await expectCode(
      () => greetFlow.serialize({ storage: createMemoryStorage(), environment: environment() }),
      "STORAGE_NOT_SHAREABLE",
      "flow.serialize",
    );
  });
});

if (noRedis) {
  test("environment conformance: distributed", { skip: noRedis }, () => {});
} else {
  runEnvironmentConformance("distributed", {
    // The executor option is the environment's own (distributed): the suite's executor is ignored.
    makeEnvironment: ({ executor: _executor, ...options }) => environment(options),
    makeStorage: ({ tmp }) => localStorageIn(tmp),
    unfitStorage: () => createMemoryStorage(),
    skip: {
      "the executor option reaches the tasks (worker-threads runs them off the main thread)":
        "task bodies always run on weft workers; the distributed environment takes no executor",
    },
    concurrency: 3,
  });
}
