// Resume: a run given `resume: earlierRunId` does not run again the tasks whose
// results the earlier run persisted (counted by side effects), reads those
// results back for downstream tasks, and runs the rest. Bad input at resume
// (a result gone, corrupt, unwritable) re-runs or fails the task, never the run
// silently. Real files in a temp directory per test.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { serialize } from "node:v8";
import { createLocalResultBackend, flow, isWeftError, task } from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";
import { filesUnder, tempDir, unique } from "../fixtures/results/results-helpers.ts";

/** Counts calls by name: the side effect that proves a task ran (or did not). */
class Calls {
  private readonly counts = new Map<string, number>();
  hit(name: string): void {
    this.counts.set(name, (this.counts.get(name) ?? 0) + 1);
  }
  of(name: string): number {
    return this.counts.get(name) ?? 0;
  }
  reset(): void {
    this.counts.clear();
  }
}

/** extract → transform → load, where load fails while `broken` is set. */
function etl(name: string, dir: string, calls: Calls, switches: { broken: boolean }) {
  const extract = task("extract", () => {
    calls.hit("extract");
    return [1, 2, 3];
  });
  const transform = task("transform", (rows: number[]) => {
    calls.hit("transform");
    return rows.map((r) => r * 10);
  });
  const load = task("load", (rows: number[]) => {
    calls.hit("load");
    if (switches.broken) throw new Error("the warehouse is down");
    return rows.reduce((a, b) => a + b, 0);
  });
  return flow(name, () => load(transform(extract())), {
    result: createLocalResultBackend({ directory: dir }),
  });
}

describe("resume from an earlier run", () => {
  test("persisted tasks are not run again, their results feed downstream, the rest run", async (t) => {
    const dir = tempDir(t);
    const name = unique("resume");
    const calls = new Calls();
    const switches = { broken: true };
    const f = etl(name, dir, calls, switches);
    const first = await f.run();
    assert.equal(first.state.type, "Failed");
    assert.equal(first.stateOf("load-1").type, "Failed");
    assert.deepEqual([calls.of("extract"), calls.of("transform"), calls.of("load")], [1, 1, 1]);

    switches.broken = false;
    calls.reset();
    const reporter = new RecordingReporter();
    const second = await f.run({ resume: first.id, reporter });
    assert.equal(second.state.type, "Success");
    assert.notEqual(second.id, first.id);
    assert.deepEqual(
      [calls.of("extract"), calls.of("transform"), calls.of("load")],
      [0, 0, 1],
      "only load ran again",
    );
    assert.equal(second.result("load-1"), 60, "load got transform's result read back");
    for (const slug of ["extract-1", "transform-1"]) {
      const state = second.stateOf(slug);
      assert.equal(state.type, "Success");
      assert.equal(state.attempts, 0);
      assert.ok(state.message?.includes(`resumed from run ${first.id}`), state.message);
      assert.ok(state.message?.includes(`${name}/${slug}/-/${first.id}`), state.message);
      // Kept under the new run's id too, so that this run can be resumed in turn.
      assert.equal(state.location, `${name}/${slug}/-/${second.id}`);
      assert.equal(reporter.taskTypes(slug).includes("Running"), false, `${slug} never Running`);
    }
    assert.deepEqual(reporter.taskTypes("load-1"), ["Running", "Success"]);
    assert.deepEqual(second.result("transform-1"), [10, 20, 30]);
  });

  test("a resumed run can be resumed in turn", async (t) => {
    const dir = tempDir(t);
    const name = unique("resume-twice");
    const calls = new Calls();
    let failAt = "b";
    const step = (label: string) =>
      task(label, (x: number) => {
        calls.hit(label);
        if (failAt === label) throw new Error(`${label} fails`);
        return x + 1;
      });
    const [a, b, c] = [step("a"), step("b"), step("c")];
    const f = flow(name, () => c(b(a(0))), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const first = await f.run();
    assert.equal(first.stateOf("b-1").type, "Failed");
    failAt = "c";
    const second = await f.run({ resume: first.id });
    assert.equal(second.stateOf("c-1").type, "Failed");
    failAt = "";
    const third = await f.run({ resume: second.id });
    assert.equal(third.state.type, "Success");
    assert.equal(third.result("c-1"), 3);
    assert.deepEqual([calls.of("a"), calls.of("b"), calls.of("c")], [1, 2, 2]);
  });

  test("checkpoint: false tasks run again; checkpointed ones do not", async (t) => {
    const dir = tempDir(t);
    const name = unique("resume-nockpt");
    const calls = new Calls();
    let broken = true;
    const volatile = task(
      "volatile",
      () => {
        calls.hit("volatile");
        return 1;
      },
      { checkpoint: false },
    );
    const kept = task("kept", (x: number) => {
      calls.hit("kept");
      return x + 1;
    });
    const last = task("last", (x: number) => {
      calls.hit("last");
      if (broken) throw new Error("not yet");
      return x * 100;
    });
    const f = flow(name, () => last(kept(volatile())), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const first = await f.run();
    broken = false;
    calls.reset();
    const second = await f.run({ resume: first.id });
    assert.equal(second.state.type, "Success");
    assert.equal(second.result("last-1"), 200);
    assert.deepEqual([calls.of("volatile"), calls.of("kept"), calls.of("last")], [1, 0, 1]);
    assert.equal(second.stateOf("volatile-1").location, undefined);
  });

  test("mapped children resume child by child: only the children that failed run again", async (t) => {
    const dir = tempDir(t);
    const name = unique("resume-map");
    const calls = new Calls();
    const failing = new Set([1, 3]);
    const items = task("items", () => {
      calls.hit("items");
      return [0, 1, 2, 3, 4];
    });
    const square = task("square", (x: number) => {
      calls.hit(`square ${x}`);
      if (failing.has(x)) throw new Error(`item ${x} is bad today`);
      return x * x;
    });
    const total = task("total", (xs: number[]) => xs.reduce((a, b) => a + b, 0), {
      trigger: "all_successful",
    });
    const f = flow(name, () => total(square.map(items())), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const first = await f.run();
    assert.deepEqual(
      first.stateOf("square-1").children?.map((c) => c.type),
      ["Success", "Failed", "Success", "Failed", "Success"],
    );
    assert.equal(first.stateOf("total-1").type, "TriggerFailed");

    failing.clear();
    calls.reset();
    const second = await f.run({ resume: first.id });
    assert.equal(second.state.type, "Success");
    assert.equal(second.result("total-1"), 0 + 1 + 4 + 9 + 16);
    assert.equal(calls.of("items"), 0);
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((x) => calls.of(`square ${x}`)),
      [0, 1, 0, 1, 0],
      "only children 1 and 3 ran again",
    );
    const children = second.stateOf("square-1").children ?? [];
    assert.deepEqual(
      children.map((c) => c.location),
      [0, 1, 2, 3, 4].map((i) => `${name}/square-1/${i}/${second.id}`),
    );
    assert.ok(children[0]?.message?.includes("resumed from run"));
    assert.equal(children[1]?.message, undefined);
  });

  test("a run id that never ran: every task runs (nothing to read back)", async (t) => {
    const dir = tempDir(t);
    const calls = new Calls();
    const f = etl(unique("resume-unknown"), dir, calls, { broken: false });
    const run = await f.run({ resume: "no-such-run" });
    assert.equal(run.state.type, "Success");
    assert.deepEqual([calls.of("extract"), calls.of("transform"), calls.of("load")], [1, 1, 1]);
  });

  test("without a result backend, resume is refused with RESULT_NOT_PERSISTED", async () => {
    const f = flow(unique("resume-nobackend"), () => task("t", () => 1)());
    await assert.rejects(
      f.run({ resume: "some-run" }),
      (error: unknown) =>
        isWeftError(error) &&
        error.code === "RESULT_NOT_PERSISTED" &&
        error.message.includes("some-run") &&
        error.message.includes(f.name) &&
        (error.hint ?? "").includes("--result-dir"),
    );
  });

  test("a template without {flowRunId} cannot resume a run: RESULT_NOT_PERSISTED", async (t) => {
    const dir = tempDir(t);
    const f = flow(unique("resume-norunid"), () => task("t", () => 1)(), {
      result: createLocalResultBackend({
        directory: dir,
        template: "{flowName}/{taskSlug}/{mapIndex}",
      }),
    });
    await assert.rejects(
      f.run({ resume: "r1" }),
      (error: unknown) =>
        isWeftError(error) &&
        error.code === "RESULT_NOT_PERSISTED" &&
        error.message.includes("{flowName}/{taskSlug}/{mapIndex}"),
    );
  });

  test("a template without {mapIndex} or {taskSlug} is refused when the backend is made", (t) => {
    const dir = tempDir(t);
    // Mapped children (or different tasks) would otherwise overwrite each other's results.
    for (const template of [
      "{flowName}/{taskSlug}/{flowRunId}",
      "{flowName}/{mapIndex}/{flowRunId}",
    ]) {
      assert.throws(
        () => createLocalResultBackend({ directory: dir, template }),
        (error: unknown) =>
          isWeftError(error) &&
          error.code === "INVALID_FLOW_OPTIONS" &&
          error.message.includes(template),
      );
    }
  });
});

describe("serializers through resume", () => {
  test("binary: a Map (and Date, Set, BigInt, bytes) is read back as itself", async (t) => {
    const dir = tempDir(t);
    const name = unique("resume-binary");
    const calls = new Calls();
    let broken = true;
    const index = task("index", () => {
      calls.hit("index");
      return {
        byName: new Map([
          ["ada", 1],
          ["bob", 2],
        ]),
        when: new Date(1_000),
        tags: new Set(["x"]),
        big: 10n ** 20n,
        bytes: Uint8Array.from([9, 8, 7]),
      };
    });
    const lookup = task(
      "lookup",
      (idx: {
        byName: Map<string, number>;
        when: Date;
        tags: Set<string>;
        big: bigint;
        bytes: Uint8Array;
      }) => {
        if (broken) throw new Error("later");
        return [
          idx.byName instanceof Map ? idx.byName.get("bob") : "not a Map",
          idx.when instanceof Date ? idx.when.getTime() : "not a Date",
          idx.tags instanceof Set ? idx.tags.has("x") : "not a Set",
          typeof idx.big === "bigint" ? String(idx.big) : "not a bigint",
          idx.bytes instanceof Uint8Array ? [...idx.bytes] : "not bytes",
        ];
      },
    );
    const f = flow(name, () => lookup(index()), {
      result: createLocalResultBackend({ directory: dir, serializer: "binary" }),
    });
    const first = await f.run();
    assert.equal(first.stateOf("lookup-1").type, "Failed");
    broken = false;
    const second = await f.run({ resume: first.id });
    assert.equal(second.state.type, "Success");
    assert.equal(calls.of("index"), 1);
    assert.deepEqual(second.result("lookup-1"), [
      2,
      1000,
      true,
      "100000000000000000000",
      [9, 8, 7],
    ]);
    assert.ok(second.result<{ byName: unknown }>("index-1").byName instanceof Map);
  });

  test("json: nested plain data is read back equal", async (t) => {
    const dir = tempDir(t);
    const name = unique("resume-json");
    let broken = true;
    const value = { a: [1, 2.5, "three", null, true], b: { c: { d: "é ✓" } } };
    const make = task("make", () => value);
    const use = task("use", (v: typeof value) => {
      if (broken) throw new Error("later");
      return v;
    });
    const f = flow(name, () => use(make()), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const first = await f.run();
    broken = false;
    const second = await f.run({ resume: first.id });
    assert.deepEqual(second.result("use-1"), value);
    assert.deepEqual(
      JSON.parse(readFileSync(join(dir, name, "make-1", "-", first.id), "utf8")),
      value,
    );
  });
});

describe("bad input at resume", () => {
  test("a result that is gone: that task runs again, the others do not", async (t) => {
    const dir = tempDir(t);
    const name = unique("resume-gone");
    const calls = new Calls();
    const switches = { broken: true };
    const f = etl(name, dir, calls, switches);
    const first = await f.run();
    rmSync(join(dir, name, "extract-1", "-", first.id));
    switches.broken = false;
    calls.reset();
    const second = await f.run({ resume: first.id });
    assert.equal(second.state.type, "Success");
    assert.deepEqual([calls.of("extract"), calls.of("transform"), calls.of("load")], [1, 0, 1]);
    assert.equal(second.stateOf("extract-1").attempts, 1);
  });

  for (const [label, corrupt] of [
    ["garbage bytes", () => Buffer.from([0x00, 0x13, 0x37, 0x7b, 0x22])],
    ["a truncated binary result", () => serialize({ rows: [1, 2, 3] }).subarray(0, 6)],
    ["an empty file", () => Buffer.alloc(0)],
  ] as const) {
    test(`a corrupt result (${label}): the task runs again, with a warning naming the location`, async (t) => {
      const dir = tempDir(t);
      const name = unique("resume-corrupt");
      const calls = new Calls();
      const switches = { broken: true };
      const f = etl(name, dir, calls, switches);
      const first = await f.run();
      const location = `${name}/transform-1/-/${first.id}`;
      writeFileSync(join(dir, location), corrupt());
      switches.broken = false;
      calls.reset();
      const reporter = new RecordingReporter();
      const second = await f.run({ resume: first.id, reporter });
      assert.equal(second.state.type, "Success");
      assert.equal(second.result("load-1"), 60);
      assert.deepEqual([calls.of("extract"), calls.of("transform"), calls.of("load")], [0, 1, 1]);
      const warnings = reporter.logs().filter((r) => r.level === "warn");
      assert.equal(warnings.length, 1, JSON.stringify(warnings));
      assert.equal(warnings[0]?.taskSlug, "transform-1");
      assert.equal(warnings[0]?.flowRunId, second.id);
      assert.ok(warnings[0]?.message.includes(location), warnings[0]?.message);
      assert.ok(warnings[0]?.message.includes("runs again"), warnings[0]?.message);
    });
  }

  test("a location that cannot be written at resume: the task fails naming it", async (t) => {
    const dir = tempDir(t);
    const name = unique("resume-unwritable");
    const calls = new Calls();
    const switches = { broken: true };
    const f = etl(name, dir, calls, switches);
    const first = await f.run();
    // load never wrote a result; a file now stands where its directory would go.
    writeFileSync(join(dir, name, "load-1"), "in the way");
    switches.broken = false;
    const second = await f.run({ resume: first.id });
    const state = second.stateOf("load-1");
    assert.equal(state.type, "Failed");
    assert.equal(state.error?.code, "RESULT_WRITE_FAILED");
    assert.ok(state.message?.includes(`${name}/load-1/-/${second.id}`), state.message);
    assert.equal(second.state.type, "Failed");
    assert.equal(second.stateOf("transform-1").type, "Success");
  });

  test("a resumed result that cannot be kept under the new run's id: the task fails naming it", async (t) => {
    const dir = tempDir(t);
    const name = unique("resume-rewrite");
    const calls = new Calls();
    const switches = { broken: true };
    const f = etl(name, dir, calls, switches);
    const first = await f.run();
    const nextId = "the-next-run";
    // A directory where extract's copy for the next run would go.
    mkdirSync(join(dir, name, "extract-1", "-", nextId, "blocker"), { recursive: true });
    switches.broken = false;
    const reporter = new RecordingReporter();
    const second = await f.run({ resume: first.id, flowRunId: nextId, reporter });
    const state = second.stateOf("extract-1");
    assert.equal(state.type, "Failed");
    assert.ok(state.message?.includes(`${name}/extract-1/-/${nextId}`), state.message);
    assert.equal(second.state.type, "Failed");
    assert.ok(
      reporter.logs().some((r) => r.level === "warn" && r.message.includes(`${name}/extract-1`)),
    );
  });

  test("the files a resumed run leaves: its own copy of every result", async (t) => {
    const dir = tempDir(t);
    const name = unique("resume-files");
    const switches = { broken: true };
    const f = etl(name, dir, new Calls(), switches);
    const first = await f.run();
    switches.broken = false;
    const second = await f.run({ resume: first.id });
    assert.deepEqual(
      filesUnder(dir),
      [
        `${name}/extract-1/-/${first.id}`,
        `${name}/extract-1/-/${second.id}`,
        `${name}/load-1/-/${second.id}`,
        `${name}/transform-1/-/${first.id}`,
        `${name}/transform-1/-/${second.id}`,
      ].sort(),
    );
  });
});
