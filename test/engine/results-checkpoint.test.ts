// Checkpoints: a task of a flow with a result backend persists its result (option
// `checkpoint`, on by default), at a location rendered from the backend's
// template, and the state says where. Real files in a temp directory per test.
import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { deserialize } from "node:v8";
import {
  createLocalResultBackend,
  flow,
  isWeftError,
  resultBackendFromJSON,
  task,
} from "../../src/index.ts";
import { filesUnder, tempDir, unique } from "../fixtures/results/results-helpers.ts";

const double = task("double", (x: number) => x * 2);
const add = task("add", (a: number, b: number) => a + b);

describe("checkpoints", () => {
  test("a task persists its result at {flowSlug}/{taskSlug}/-/{flowRunId} by default", async (t) => {
    const dir = tempDir(t);
    const name = unique("ckpt");
    const f = flow(name, () => add(double(2), 1), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const run = await f.run();
    assert.equal(run.state.type, "Success");
    assert.equal(run.stateOf("double-1").location, `${name}/double-1/-/${run.id}`);
    assert.equal(run.stateOf("add-1").location, `${name}/add-1/-/${run.id}`);
    assert.deepEqual(filesUnder(dir), [
      `${name}/add-1/-/${run.id}`,
      `${name}/double-1/-/${run.id}`,
    ]);
    assert.equal(readFileSync(join(dir, name, "double-1", "-", run.id), "utf8"), "4");
    assert.equal(readFileSync(join(dir, name, "add-1", "-", run.id), "utf8"), "5");
    // The location travels with the state's JSON.
    assert.equal(run.stateOf("add-1").toJSON().location, `${name}/add-1/-/${run.id}`);
  });

  test("checkpoint: false is not persisted; checkpoint: true and the default are", async (t) => {
    const dir = tempDir(t);
    const name = unique("ckpt-opt");
    const off = task("off", () => "secret", { checkpoint: false });
    const on = task("on", (s: string) => `${s}!`, { checkpoint: true });
    const dflt = task("dflt", (s: string) => s.length);
    const f = flow(name, () => dflt(on(off())), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const run = await f.run();
    assert.equal(run.state.type, "Success");
    assert.equal(run.stateOf("off-1").type, "Success");
    assert.equal(run.stateOf("off-1").location, undefined);
    assert.equal(run.stateOf("on-1").location, `${name}/on-1/-/${run.id}`);
    assert.equal(run.stateOf("dflt-1").location, `${name}/dflt-1/-/${run.id}`);
    assert.deepEqual(filesUnder(dir), [`${name}/dflt-1/-/${run.id}`, `${name}/on-1/-/${run.id}`]);
    assert.equal(run.result("dflt-1"), 7);
  });

  test("without a result backend nothing is persisted and states have no location", async () => {
    const f = flow(unique("no-backend"), () => add(double(1), 1));
    const run = await f.run();
    assert.equal(run.state.type, "Success");
    for (const [, state] of run.taskStates) assert.equal(state.location, undefined);
  });

  test("RunOptions.result gives a backend to a flow without one, and overrides the flow's", async (t) => {
    const flowDir = tempDir(t, "flow-dir");
    const runDir = tempDir(t, "run-dir");
    const name = unique("run-opt");
    const bare = flow(name, () => double(21));
    const run = await bare.run({ result: createLocalResultBackend({ directory: runDir }) });
    assert.equal(run.stateOf("double-1").location, `${name}/double-1/-/${run.id}`);
    assert.deepEqual(filesUnder(runDir), [`${name}/double-1/-/${run.id}`]);

    const withOwn = flow(unique("run-opt-own"), () => double(21), {
      result: createLocalResultBackend({ directory: flowDir }),
    });
    const other = tempDir(t, "override");
    const overridden = await withOwn.run({
      result: createLocalResultBackend({ directory: other }),
    });
    assert.equal(overridden.state.type, "Success");
    assert.deepEqual(filesUnder(flowDir), [], "the flow's own backend is not used");
    assert.equal(filesUnder(other).length, 1);
  });

  test("mapped children each get their own location; the parent and parameters have none", async (t) => {
    const dir = tempDir(t);
    const name = unique("ckpt-map");
    const f = flow(name, () => double.map([1, 2, 3]), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const run = await f.run();
    assert.equal(run.state.type, "Success");
    const parent = run.stateOf("double-1");
    assert.equal(parent.type, "Mapped");
    assert.equal(parent.location, undefined);
    assert.deepEqual(
      parent.children?.map((c) => c.location),
      [0, 1, 2].map((i) => `${name}/double-1/${i}/${run.id}`),
    );
    assert.deepEqual(
      [0, 1, 2].map((i) => readFileSync(join(dir, name, "double-1", String(i), run.id), "utf8")),
      ["2", "4", "6"],
    );
    assert.equal(filesUnder(dir).length, 3);
  });

  test("a custom template renders every field, and field values cannot add path segments", async (t) => {
    const dir = tempDir(t);
    const name = unique("tmpl");
    const f = flow(name, () => double.map([5]), {
      result: createLocalResultBackend({
        directory: dir,
        template: "runs/{flowRunId}/{flowName}.{taskName}.{taskSlug}.{mapIndex}",
      }),
    });
    const id = "a/b/../c";
    const run = await f.run({ flowRunId: id });
    const location = run.stateOf("double-1").children?.[0]?.location;
    assert.equal(location, `runs/a_b_.._c/${name}.double.double-1.0`);
    assert.deepEqual(filesUnder(dir), [location]);
  });

  test("a relative directory is resolved once, when the backend is made", async (t) => {
    const dir = tempDir(t);
    const backend = createLocalResultBackend({ directory: "some/where" });
    assert.equal(backend.name, join(process.cwd(), "some/where"));
    const absolute = createLocalResultBackend({ directory: dir });
    assert.equal(absolute.name, dir);
  });
});

describe("result backend options", () => {
  const escaping = [
    "../{flowRunId}",
    "{flowName}/../../{flowRunId}",
    "/abs/{flowRunId}",
    "{flowName}//{flowRunId}",
    "./{flowRunId}",
  ];
  for (const template of escaping) {
    test(`a template that escapes the root is refused when the backend is made: ${template}`, () => {
      assert.throws(
        () => createLocalResultBackend({ directory: "/tmp/unused", template }),
        (error: unknown) =>
          isWeftError(error) &&
          error.code === "RESULT_LOCATION_ESCAPE" &&
          error.message.includes("is not inside the result backend"),
      );
    });
  }

  test("a template with an unknown field is refused, listing the known fields", () => {
    assert.throws(
      () => createLocalResultBackend({ directory: "/tmp/unused", template: "{flowName}/{runId}" }),
      (error: unknown) =>
        isWeftError(error) &&
        error.code === "INVALID_FLOW_OPTIONS" &&
        error.message.includes("{runId}") &&
        (error.hint ?? "").includes("{flowRunId}") &&
        (error.hint ?? "").includes("{mapIndex}"),
    );
  });

  test("an unknown serializer is refused, listing the known ones", () => {
    assert.throws(
      () =>
        createLocalResultBackend({
          directory: "/tmp/unused",
          serializer: "xml" as unknown as "json",
        }),
      (error: unknown) =>
        isWeftError(error) &&
        error.code === "INVALID_FLOW_OPTIONS" &&
        error.message.includes('"xml"') &&
        error.message.includes("json, binary"),
    );
  });

  test("fromJSON(toJSON(backend)) gives the same backend; an unknown type is refused", (t) => {
    const dir = tempDir(t);
    const backend = createLocalResultBackend({
      directory: dir,
      template: "{flowRunId}/{taskSlug}/{mapIndex}",
      serializer: "binary",
    });
    const json = backend.toJSON();
    assert.deepEqual(json, {
      type: "local",
      schemaVersion: 1,
      directory: dir,
      template: "{flowRunId}/{taskSlug}/{mapIndex}",
      serializer: "binary",
    });
    const again = resultBackendFromJSON(JSON.parse(JSON.stringify(json)));
    assert.deepEqual(again.toJSON(), json);
    assert.equal(again.type, "local");
    assert.throws(
      () => resultBackendFromJSON({ ...json, type: "nfs" }),
      (error: unknown) => isWeftError(error) && error.message.includes("local"),
    );
    assert.throws(
      () => resultBackendFromJSON({ ...json, template: "../{flowRunId}" }),
      (error: unknown) => isWeftError(error) && error.code === "RESULT_LOCATION_ESCAPE",
    );
  });
});

describe("serializers", () => {
  for (const [label, make] of [
    ["a Date", () => new Date(0)],
    ["a Map", () => new Map([["k", 1]])],
  ] as const) {
    test(`json refuses ${label}: the task fails with RESULT_NOT_SERIALIZABLE naming the location`, async (t) => {
      const dir = tempDir(t);
      const name = unique("json-refuses");
      const make1 = task("make", make as () => unknown);
      const after = task("after", (_v: unknown) => "ran");
      const f = flow(name, () => after(make1()), {
        result: createLocalResultBackend({ directory: dir }),
      });
      const run = await f.run();
      const state = run.stateOf("make-1");
      assert.equal(state.type, "Failed");
      assert.equal(state.error?.code, "RESULT_NOT_SERIALIZABLE");
      assert.match(state.message ?? "", new RegExp(`${name}/make-1/-/${run.id}`));
      assert.equal(state.location, undefined);
      assert.equal(run.stateOf("after-1").type, "TriggerFailed");
      assert.equal(run.state.type, "Failed");
      assert.deepEqual(filesUnder(dir), []);
    });
  }

  test("json's refusal tells the user to use the binary serializer (the hint reaches the state)", async (t) => {
    const dir = tempDir(t);
    const f = flow(unique("json-hint"), () => task("when", () => new Date(0))(), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const run = await f.run();
    const state = run.stateOf("when-1");
    assert.equal(state.type, "Failed");
    assert.match(state.error?.hint ?? "", /binary/);
    const json = state.toJSON() as { error?: { hint?: string } };
    assert.match(json.error?.hint ?? "", /binary/, "the hint travels in the state's JSON");
  });

  test("binary refuses a function: the task fails with RESULT_NOT_SERIALIZABLE naming the location", async (t) => {
    const dir = tempDir(t);
    const name = unique("binary-fn");
    const connect = task("connect", () => ({ host: "db", query: (sql: string) => sql }));
    const f = flow(name, () => connect(), {
      result: createLocalResultBackend({ directory: dir, serializer: "binary" }),
    });
    const run = await f.run();
    const state = run.stateOf("connect-1");
    assert.equal(state.type, "Failed");
    assert.equal(state.error?.code, "RESULT_NOT_SERIALIZABLE");
    assert.ok(state.message?.includes(`${name}/connect-1/-/${run.id}`), state.message);
    assert.deepEqual(filesUnder(dir), []);
  });

  test("binary stores Date, Map, Set, BigInt and typed arrays in V8's format", async (t) => {
    const dir = tempDir(t);
    const name = unique("binary-ok");
    const value = {
      when: new Date(86_400_000),
      map: new Map([["a", 1]]),
      set: new Set([1, 2]),
      big: 2n ** 70n,
      bytes: new Uint8Array([1, 2, 3]),
    };
    const f = flow(name, () => task("rich", () => value)(), {
      result: createLocalResultBackend({ directory: dir, serializer: "binary" }),
    });
    const run = await f.run();
    assert.equal(run.state.type, "Success");
    const bytes = readFileSync(join(dir, run.stateOf("rich-1").location!));
    assert.equal(bytes[0], 0xff, "V8's version tag");
    assert.deepEqual(deserialize(bytes), value);
  });

  for (const serializer of ["json", "binary"] as const) {
    test(`a task that returns nothing is persisted and resumed (${serializer})`, async (t) => {
      const dir = tempDir(t);
      const name = unique("void");
      let loads = 0;
      let broken = true;
      const load = task("load", (): void => {
        loads++;
      });
      const report = task("report", (v: unknown) => {
        if (broken) throw new Error("later");
        return v === undefined ? "got undefined" : `got ${String(v)}`;
      });
      const f = flow(name, () => report(load()), {
        result: createLocalResultBackend({ directory: dir, serializer }),
      });
      const first = await f.run();
      const state = first.stateOf("load-1");
      assert.equal(state.type, "Success", state.message);
      assert.equal(state.location, `${name}/load-1/-/${first.id}`);
      broken = false;
      const second = await f.run({ resume: first.id });
      assert.equal(second.state.type, "Success");
      assert.equal(loads, 1, "load was read back, not run again");
      assert.equal(second.result("report-1"), "got undefined");
    });
  }
});

describe("an unwritable result backend", () => {
  test("a file where the directory should be: the task fails naming the location", async (t) => {
    const dir = tempDir(t);
    const name = unique("unwritable");
    writeFileSync(join(dir, name), "in the way");
    const after = task("after", (_v: unknown) => "ran");
    const f = flow(name, () => after(double(1)), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const run = await f.run();
    const state = run.stateOf("double-1");
    assert.equal(state.type, "Failed");
    assert.equal(state.error?.code, "RESULT_WRITE_FAILED");
    assert.ok(state.message?.includes(`${name}/double-1/-/${run.id}`), state.message);
    assert.ok(state.message?.includes(dir), state.message);
    assert.equal(run.stateOf("after-1").type, "TriggerFailed");
    assert.equal(run.state.type, "Failed");
  });

  test("a read-only directory: the task fails naming the location", {
    skip:
      process.getuid?.() === 0 ? "runs as root, which writes into read-only directories" : false,
  }, async (t) => {
    const dir = tempDir(t);
    const name = unique("read-only");
    mkdirSync(join(dir, name));
    chmodSync(join(dir, name), 0o500);
    t.after(() => chmodSync(join(dir, name), 0o700));
    const f = flow(name, () => double(1), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const run = await f.run();
    const state = run.stateOf("double-1");
    assert.equal(state.type, "Failed");
    assert.equal(state.error?.code, "RESULT_WRITE_FAILED");
    assert.ok(state.message?.includes(`${name}/double-1/-/${run.id}`), state.message);
  });

  test("a link inside the directory that leads outside it: the write is refused, nothing lands outside", async (t) => {
    const dir = tempDir(t);
    const outside = tempDir(t, "outside");
    const name = unique("link-out");
    symlinkSync(outside, join(dir, name));
    const f = flow(name, () => double(1), {
      result: createLocalResultBackend({ directory: dir }),
    });
    const run = await f.run();
    assert.deepEqual(filesUnder(outside), [], "nothing written outside the result directory");
    const state = run.stateOf("double-1");
    assert.equal(state.type, "Failed");
    assert.equal(state.error?.code, "RESULT_LOCATION_ESCAPE");
    assert.ok(state.message?.includes(`${name}/double-1/-/${run.id}`), state.message);
  });

  test("a write leaves no temporary file behind", async (t) => {
    const dir = tempDir(t);
    const name = unique("atomic");
    const f = flow(name, () => double.map([1, 2, 3, 4]), {
      result: createLocalResultBackend({ directory: dir }),
    });
    await f.run();
    const all = (await import("node:fs"))
      .readdirSync(dir, { recursive: true })
      .map(String)
      .filter((p) => p.endsWith(".tmp"));
    assert.deepEqual(all, []);
    assert.ok(existsSync(join(dir, name, "double-1", "3")));
  });
});
