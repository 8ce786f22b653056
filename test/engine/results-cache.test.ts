// The cache kept in a result backend: `cacheFor` + `cacheKey`, and `cache:
// "content"` (the hash of the task's code, inputs and options). Entries live
// under `_cache/<sha256>`, so they outlive this process: each test forgets this
// process's memory (processCache.clear()) where it means to prove that. The
// cross-process runs are in test/cli/results-cli.test.ts.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { processCache } from "../../src/engine/cache.ts";
import { createLocalResultBackend, type Flow, flow, parameter, task } from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";
import { contentFlowSource } from "../fixtures/results/content-flow-source.ts";
import {
  filesUnder,
  importModule,
  tempDir,
  unique,
  writeModule,
} from "../fixtures/results/results-helpers.ts";

/** Where an entry of `flowName`/`taskName` with `key` is kept (computed here, independently). */
function entryLocation(flowName: string, taskName: string, key: string): string {
  return `_cache/${createHash("sha256").update(`${flowName}/${taskName}/${key}`).digest("hex")}`;
}

const cacheFiles = (dir: string) => filesUnder(dir).filter((f) => f.startsWith("_cache/"));

describe("cacheFor in a result backend", () => {
  test("the entry is persisted under _cache/<sha256>; a later run reads it back and ends Cached naming it", async (t) => {
    const dir = tempDir(t);
    const name = unique("cache");
    let calls = 0;
    const slow = task(
      "slow",
      (x: number) => {
        calls++;
        return { x, at: calls };
      },
      { cacheFor: 3_600_000 },
    );
    const f = flow(name, () => slow(parameter("x", 7)), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const first = await f.run();
    assert.equal(first.stateOf("slow-1").type, "Success");
    const location = entryLocation(name, "slow", "[7]");
    assert.deepEqual(cacheFiles(dir), [location]);
    const stored = JSON.parse(readFileSync(join(dir, location), "utf8"));
    assert.deepEqual(stored.value, { x: 7, at: 1 });
    assert.equal(stored.expiresAt - stored.createdAt, 3_600_000);

    processCache.clear(); // as a fresh process would be
    const second = await f.run();
    const state = second.stateOf("slow-1");
    assert.equal(state.type, "Cached");
    assert.ok(state.message?.includes(location), state.message);
    assert.equal(state.location, location);
    assert.deepEqual(second.result("slow-1"), { x: 7, at: 1 });
    assert.equal(calls, 1, "the task did not run again");
    assert.equal(second.state.type, "Success");
  });

  test("a hit from this process's memory names the persisted location too", async (t) => {
    const dir = tempDir(t);
    const name = unique("cache-mem");
    const f = flow(name, () => task("t", () => 1, { cacheFor: 60_000 })(), {
      result: createLocalResultBackend({ directory: dir }),
    });
    await f.run();
    const second = await f.run();
    const state = second.stateOf("t-1");
    assert.equal(state.type, "Cached");
    assert.ok(state.message?.includes(entryLocation(name, "t", "[]")), state.message);
    assert.equal(state.location, entryLocation(name, "t", "[]"));
  });

  test("expiry: an entry older than cacheFor is not used, in memory or in the backend", async (t) => {
    const dir = tempDir(t);
    const name = unique("cache-expiry");
    let calls = 0;
    const brief = task(
      "brief",
      () => {
        calls++;
        return calls;
      },
      { cacheFor: 150 },
    );
    const f = flow(name, () => brief(), {
      result: createLocalResultBackend({ directory: dir }),
    });
    await f.run();
    assert.equal((await f.run()).stateOf("brief-1").type, "Cached", "fresh: cached");
    await sleep(250);
    const fromMemory = await f.run();
    assert.equal(fromMemory.stateOf("brief-1").type, "Success");
    assert.equal(calls, 2);
    await sleep(250);
    processCache.clear();
    const fromBackend = await f.run();
    assert.equal(fromBackend.stateOf("brief-1").type, "Success");
    assert.equal(fromBackend.result("brief-1"), 3);
    assert.equal(cacheFiles(dir).length, 1, "the entry was replaced, not added");
  });

  test("cacheKey: equal keys share an entry, different keys make different entries", async (t) => {
    const dir = tempDir(t);
    const name = unique("cache-key");
    let calls = 0;
    const profile = task(
      "profile",
      (user: { id: number; seen: string }) => {
        calls++;
        return `profile of ${user.id} (seen ${user.seen})`;
      },
      { cacheFor: 3_600_000, cacheKey: (user) => `user-${user.id}` },
    );
    const f = flow(name, () => profile(parameter("user")), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const a = await f.run({ parameters: { user: { id: 1, seen: "monday" } } });
    processCache.clear();
    const b = await f.run({ parameters: { user: { id: 1, seen: "tuesday" } } });
    processCache.clear();
    const c = await f.run({ parameters: { user: { id: 2, seen: "tuesday" } } });
    assert.equal(a.stateOf("profile-1").type, "Success");
    assert.equal(b.stateOf("profile-1").type, "Cached");
    assert.equal(b.result("profile-1"), "profile of 1 (seen monday)");
    assert.equal(c.stateOf("profile-1").type, "Success");
    assert.equal(calls, 2);
    assert.deepEqual(
      cacheFiles(dir),
      [entryLocation(name, "profile", "user-1"), entryLocation(name, "profile", "user-2")].sort(),
    );
  });

  test("without cacheKey, different inputs make different entries and equal inputs hit", async (t) => {
    const dir = tempDir(t);
    const name = unique("cache-inputs");
    let calls = 0;
    const sq = task(
      "sq",
      (x: number) => {
        calls++;
        return x * x;
      },
      { cacheFor: 3_600_000 },
    );
    const f = flow(name, () => sq.map([1, 2, 2, 3]), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const first = await f.run({ executor: "serial" });
    assert.deepEqual(first.result("sq-1"), [1, 4, 4, 9]);
    assert.deepEqual(
      first.stateOf("sq-1").children?.map((c) => c.type),
      ["Success", "Success", "Cached", "Success"],
    );
    assert.equal(calls, 3);
    assert.equal(cacheFiles(dir).length, 3);
  });

  test("a cacheKey that returns no string fails the task, saying so", async (t) => {
    const dir = tempDir(t);
    const f = flow(
      unique("cache-badkey"),
      () =>
        task("t", (x: number) => x, {
          cacheFor: 1000,
          cacheKey: (x) => x as unknown as string,
        })(3),
      { result: createLocalResultBackend({ directory: dir }) },
    );
    const run = await f.run();
    assert.equal(run.stateOf("t-1").type, "Failed");
    assert.match(run.stateOf("t-1").message ?? "", /cannot compute the cache key.*returned number/);
  });

  test("a corrupt entry: the task runs again with a warning, and the entry is rewritten", async (t) => {
    const dir = tempDir(t);
    const name = unique("cache-corrupt");
    let calls = 0;
    const f = flow(
      name,
      () =>
        task(
          "t",
          () => {
            calls++;
            return "fresh";
          },
          { cacheFor: 3_600_000 },
        )(),
      { result: createLocalResultBackend({ directory: dir }) },
    );
    await f.run();
    const location = entryLocation(name, "t", "[]");
    writeFileSync(join(dir, location), Buffer.from([0x00, 0xde, 0xad]));
    processCache.clear();
    const reporter = new RecordingReporter();
    const second = await f.run({ reporter });
    assert.equal(second.stateOf("t-1").type, "Success");
    assert.equal(calls, 2);
    const warning = reporter.logs().find((r) => r.level === "warn");
    assert.ok(warning?.message.includes("cache entry unreadable"), warning?.message);
    assert.ok(warning?.message.includes(location), warning?.message);
    processCache.clear();
    assert.equal((await f.run()).stateOf("t-1").type, "Cached");
  });

  test("a result that cannot be persisted leaves no cache entry: the next run fails again", async (t) => {
    const dir = tempDir(t);
    const name = unique("cache-failed-persist");
    let calls = 0;
    const when = task(
      "when",
      () => {
        calls++;
        return new Date(0);
      },
      { cacheFor: 60_000 },
    );
    const f = flow(name, () => when(), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const first = await f.run();
    assert.equal(first.stateOf("when-1").type, "Failed");
    const second = await f.run();
    assert.equal(second.stateOf("when-1").type, "Failed");
    assert.equal(calls, 2, "the second run ran the task");
    assert.deepEqual(cacheFiles(dir), []);
  });

  test("without cacheKey, inputs that JSON cannot tell apart (two Maps; undefined and null) make different entries", async (t) => {
    const dir = tempDir(t);
    const mk = task("mk", (k: string) => new Map([[k, 1]]));
    const keys = task("keys", (m: Map<string, number>) => [...m.keys()], { cacheFor: 60_000 });
    const kind = task("kind", (x: number | null | undefined) => (x === null ? "null" : typeof x), {
      cacheFor: 60_000,
    });
    const f = flow(
      unique("cache-default-key"),
      () => [keys(mk("a")), keys(mk("b")), kind(undefined), kind(null)],
      { result: createLocalResultBackend({ directory: dir, serializer: "binary" }) },
    );
    const run = await f.run({ executor: "serial" });
    assert.deepEqual(run.outputs, [["a"], ["b"], "undefined", "null"]);
  });
});

describe('cache: "content"', () => {
  interface Versioned {
    scored: Flow<unknown>;
  }

  /** Writes a version of the module and runs it, with this process's memory forgotten. */
  async function runVersion(
    dir: string,
    file: string,
    version: Parameters<typeof contentFlowSource>[0],
    results: string,
    n = 1,
  ) {
    const path = writeModule(dir, file, contentFlowSource(version));
    const { scored } = await importModule<Versioned>(path);
    processCache.clear();
    return scored.run({
      parameters: { n },
      result: createLocalResultBackend({ directory: results }),
    });
  }

  test("changing the task's code invalidates its entry; changing another task's code does not", async (t) => {
    const dir = tempDir(t, "modules");
    const results = tempDir(t);
    const log = join(dir, "ran.log");
    const name = unique("content");
    const base = { name, log };
    const ran = () => readFileSync(log, "utf8").trim().split("\n");

    const v1 = await runVersion(dir, "v1.ts", base, results);
    assert.equal(v1.result("score-1"), 4);
    assert.equal(v1.stateOf("score-1").type, "Success");
    assert.deepEqual(ran(), ["prepare", "score"]);

    // prepare's code changes (its result does not): score's entry still holds.
    const v2 = await runVersion(
      dir,
      "v2.ts",
      { ...base, prepare: "const one = 1; return n + one;" },
      results,
    );
    const cached = v2.stateOf("score-1");
    assert.equal(cached.type, "Cached");
    assert.match(cached.message ?? "", /_cache\/[0-9a-f]{64}/);
    assert.equal(v2.result("score-1"), 4);
    assert.deepEqual(ran(), ["prepare", "score", "prepare"]);

    // score's code changes: a new entry, and score runs.
    const v3 = await runVersion(dir, "v3.ts", { ...base, score: "return x * 3;" }, results);
    assert.equal(v3.stateOf("score-1").type, "Success");
    assert.equal(v3.result("score-1"), 6);
    assert.deepEqual(ran(), ["prepare", "score", "prepare", "prepare", "score"]);
    assert.equal(cacheFiles(results).length, 2);

    // Back to v1's code: its entry is still there.
    const again = await runVersion(dir, "v1-again.ts", base, results);
    assert.equal(again.stateOf("score-1").type, "Cached");
    assert.equal(again.result("score-1"), 4);
  });

  test("changing the task's options invalidates its entry", async (t) => {
    const dir = tempDir(t, "modules");
    const results = tempDir(t);
    const log = join(dir, "ran.log");
    const base = { name: unique("content-opts"), log };
    await runVersion(dir, "v1.ts", base, results);
    const retried = await runVersion(
      dir,
      "v2.ts",
      { ...base, scoreOptions: "retries: 2" },
      results,
    );
    assert.equal(retried.stateOf("score-1").type, "Success");
    const tagged = await runVersion(
      dir,
      "v3.ts",
      { ...base, scoreOptions: 'tags: ["x"]' },
      results,
    );
    assert.equal(tagged.stateOf("score-1").type, "Success");
    assert.equal(cacheFiles(results).length, 3);
  });

  test("different inputs make different entries; the same inputs hit", async (t) => {
    const dir = tempDir(t, "modules");
    const results = tempDir(t);
    const base = { name: unique("content-inputs"), log: join(dir, "ran.log") };
    const one = await runVersion(dir, "a.ts", base, results, 1);
    const two = await runVersion(dir, "b.ts", base, results, 2);
    const oneAgain = await runVersion(dir, "c.ts", base, results, 1);
    assert.equal(one.stateOf("score-1").type, "Success");
    assert.equal(two.stateOf("score-1").type, "Success");
    assert.equal(two.result("score-1"), 6);
    assert.equal(oneAgain.stateOf("score-1").type, "Cached");
    assert.equal(oneAgain.result("score-1"), 4);
    assert.equal(cacheFiles(results).length, 2);
  });

  test("inputs that JSON cannot tell apart (two different Maps) make different entries", async (t) => {
    const dir = tempDir(t);
    let calls = 0;
    const mk = task("mk", (k: string) => new Map([[k, 1]]));
    const keys = task(
      "keys",
      (m: Map<string, number>) => {
        calls++;
        return [...m.keys()];
      },
      { cache: "content" },
    );
    const f = flow(unique("content-map"), () => [keys(mk("a")), keys(mk("b")), keys(mk("a"))], {
      result: createLocalResultBackend({ directory: dir, serializer: "binary" }),
    });
    const run = await f.run({ executor: "serial" });
    assert.deepEqual(run.outputs, [["a"], ["b"], ["a"]]);
    assert.equal(calls, 2, "the third call, with the first one's input, hit");
    assert.equal(run.stateOf("keys-3").type, "Cached");
    assert.equal(cacheFiles(dir).length, 2);
  });
});
