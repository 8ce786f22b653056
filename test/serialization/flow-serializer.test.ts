// flow.serialize(): the flow's graph and deployment as versioned JSON. Checked
// against the zod schema (parseSerializedFlow), against the published JSON
// Schema, and against a flow whose edges are known by hand.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  createLocalStorage,
  createMemoryStorage,
  cron,
  flow,
  jsonSchemas,
  parameter,
  someFailed,
  task,
  unmapped,
} from "../../src/index.ts";
import { parseSerializedFlow, type SerializedFlow } from "../../src/serialization/index.ts";
import { conformanceFlow } from "../fixtures/storage/conformance-flows.ts";
import { expectCode, withTmp } from "../storage/storage.case.ts";
import { checkJsonSchema } from "./json-schema-check.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

const range = task("range", (n: number) => Array.from({ length: n }, (_, i) => i));
const square = task("square", (x: number) => x * x, {
  retries: 2,
  retryDelay: (attempt: number) => 100 * attempt,
  timeout: 1_000,
  tags: ["cpu"],
});
const add = task("add", (a: number, b: number) => a + b, {
  cacheFor: 60_000,
  cacheKey: (a: number, b: number) => `${a}+${b}`,
});
const shift = task("shift", (x: number, by: number) => x + by);
const total = task("total", (xs: number[]) => xs.reduce((a, b) => a + b, 0));
const pair = task("pair", (xs: number[]) => xs.join(","), { trigger: "all_finished" });
const report = task("report", (label: string, sum: number) => `${label}: ${sum}`, {
  skipOnUpstreamSkip: false,
});

/** A flow whose every edge is known: mapped and unmapped inputs, a list argument, an `after` edge. */
function knownFlow(name = unique("known")) {
  return flow(
    name,
    () => {
      const n = parameter("n", 3, { description: "how many numbers" });
      const label = parameter<string>("label", undefined, { validate: (v) => v !== "" });
      const xs = range(n);
      const squares = square.map(xs);
      const offset = add(n, 1);
      const shifted = shift.map(squares, unmapped(offset));
      const sum = total(shifted);
      const both = pair([offset, sum]);
      const out = report(label, sum);
      out.after(both);
      return { out };
    },
    { description: "a flow with known edges", labels: ["team-a"] },
  );
}

describe("flow.serialize()", () => {
  test("validates against the flow schema and round-trips through parseSerializedFlow", () => {
    const json = knownFlow().serialize() as SerializedFlow;
    const text = JSON.stringify(json);
    assert.deepEqual(parseSerializedFlow(JSON.parse(text)), json);
    assert.deepEqual(JSON.parse(text), json, "plain JSON: nothing lost by JSON.stringify");
    const schemas = jsonSchemas() as Record<string, object>;
    assert.deepEqual(checkJsonSchema(schemas.flow!, JSON.parse(text)), []);
    for (const task of json.tasks) assert.deepEqual(checkJsonSchema(schemas.task!, task), []);
    for (const edge of json.edges) assert.deepEqual(checkJsonSchema(schemas.edge!, edge), []);
  });

  test("a trigger function is serialized as { custom: its name }, and the JSON stays valid", () => {
    const schemas = jsonSchemas() as Record<string, object>;
    const f = flow(unique("custom-trigger"), () => {
      const a = task("gate", (x: number) => x, { trigger: (up) => up.failed === 0 })(1);
      const b = task("alert", (x: number) => x, { trigger: someFailed({ atLeast: 1 }) })(a);
      return task("named", (x: number) => x, {
        trigger: function enoughRows() {
          return true;
        },
      }).map([b]);
    });
    const json = f.serialize() as SerializedFlow;
    assert.deepEqual(
      json.tasks.map((t) => t.options.trigger),
      [{ custom: "trigger" }, { custom: "some_failed(atLeast: 1)" }, { custom: "enoughRows" }],
    );
    assert.deepEqual(parseSerializedFlow(JSON.parse(JSON.stringify(json))), json);
    assert.deepEqual(checkJsonSchema(schemas.flow!, JSON.parse(JSON.stringify(json))), []);
  });

  test("the JSON Schema refuses what the zod schema refuses (unknown key, missing field)", () => {
    const schema = (jsonSchemas() as Record<string, object>).flow!;
    const json = knownFlow().serialize() as SerializedFlow;
    assert.notDeepEqual(checkJsonSchema(schema, { ...json, extra: 1 }), []);
    const { labels: _labels, ...withoutLabels } = json;
    assert.deepEqual(checkJsonSchema(schema, withoutLabels), ["$: missing labels"]);
  });

  test("edges carry the argument position (or after) and the mapped flag", () => {
    const json = knownFlow().serialize() as SerializedFlow;
    assert.deepEqual(json.edges, [
      { upstream: "n", downstream: "range-1", key: 0, mapped: false },
      { upstream: "range-1", downstream: "square-1", key: 0, mapped: true },
      { upstream: "n", downstream: "add-1", key: 0, mapped: false },
      { upstream: "square-1", downstream: "shift-1", key: 0, mapped: true },
      { upstream: "add-1", downstream: "shift-1", key: 1, mapped: false },
      { upstream: "shift-1", downstream: "total-1", key: 0, mapped: false },
      { upstream: "add-1", downstream: "pair-1", key: 0, mapped: false },
      { upstream: "total-1", downstream: "pair-1", key: 0, mapped: false },
      { upstream: "label", downstream: "report-1", key: 0, mapped: false },
      { upstream: "total-1", downstream: "report-1", key: 1, mapped: false },
      { upstream: "pair-1", downstream: "report-1", key: "after", mapped: false },
    ]);
    assert.deepEqual(json.referenceTasks, ["report-1"]);
  });

  test("tasks carry slug, name, kind, mapped and their options (functions as flags)", () => {
    const json = knownFlow().serialize() as SerializedFlow;
    const bySlug = new Map(json.tasks.map((t) => [t.slug, t]));
    assert.deepEqual(
      json.tasks.map((t) => [t.slug, t.kind, t.mapped]),
      [
        ["n", "parameter", false],
        ["label", "parameter", false],
        ["range-1", "task", false],
        ["square-1", "task", true],
        ["add-1", "task", false],
        ["shift-1", "task", true],
        ["total-1", "task", false],
        ["pair-1", "task", false],
        ["report-1", "task", false],
      ],
    );
    assert.deepEqual(bySlug.get("square-1")!.options, {
      retries: 2,
      retryDelay: "function",
      timeout: 1_000,
      trigger: "all_successful",
      skipOnUpstreamSkip: true,
      cacheKey: false,
      tags: ["cpu"],
    });
    assert.equal(bySlug.get("add-1")!.options.cacheFor, 60_000);
    assert.equal(bySlug.get("add-1")!.options.cacheKey, true);
    assert.equal(bySlug.get("pair-1")!.options.trigger, "all_finished");
    assert.equal(bySlug.get("report-1")!.options.skipOnUpstreamSkip, false);
  });

  test("parameters carry default, required, type, description and validated", () => {
    const json = knownFlow().serialize() as SerializedFlow;
    assert.deepEqual(json.parameters, [
      {
        name: "n",
        default: 3,
        required: false,
        type: "number",
        description: "how many numbers",
        validated: false,
      },
      { name: "label", required: true, validated: true },
    ]);
    assert.equal(json.description, "a flow with known edges");
    assert.equal(json.schemaVersion, 1);
  });

  test("the same code always serializes the same (apart from the name)", () => {
    const a = knownFlow("same-a").serialize() as SerializedFlow;
    const b = knownFlow("same-b").serialize() as SerializedFlow;
    assert.deepEqual({ ...a, name: "x" }, { ...b, name: "x" });
  });

  test("the schedule is serialized; schedule: null removes it", () => {
    const scheduled = flow(unique("scheduled"), () => total([1, 2]), {
      schedule: cron("0 6 * * 1-5", { timezone: "Europe/Paris" }),
    });
    const json = scheduled.serialize() as SerializedFlow;
    assert.deepEqual(json.schedule, {
      schemaVersion: 1,
      type: "cron",
      expression: "0 6 * * 1-5",
      timezone: "Europe/Paris",
    });
    assert.equal((scheduled.serialize({ schedule: null }) as SerializedFlow).schedule, undefined);
    assert.deepEqual(parseSerializedFlow(JSON.parse(JSON.stringify(json))), json);
  });

  test("serialize({ build: true, storage }) adds storage, location and labels", () =>
    withTmp("serialize-build", async (tmp) => {
      const storage = createLocalStorage({
        directory: join(tmp, "flows"),
        cacheDir: join(tmp, "cache"),
      });
      const json = (await conformanceFlow.serialize({
        build: true,
        storage,
        labels: ["gpu", "eu"],
      })) as SerializedFlow;
      assert.deepEqual(json.storage, storage.toJSON());
      assert.equal(json.location, storage.flows[conformanceFlow.name]);
      assert.match(json.location ?? "", /^[0-9a-f]{64}\.mjs#storage-conformance$/);
      assert.deepEqual(json.labels, ["eu", "gpu", hostname()].sort());
      assert.deepEqual(parseSerializedFlow(JSON.parse(JSON.stringify(json))), json);
      const schema = (jsonSchemas() as Record<string, object>).flow!;
      assert.deepEqual(checkJsonSchema(schema, JSON.parse(JSON.stringify(json))), []);
      // Built: the location loads.
      const run = await (await storage.getRunner(json.location!)).run();
      assert.equal(run.state.type, "Success");
    }));

  test("without build, a storage is included but no location; the flow's own labels are kept", () => {
    const storage = createMemoryStorage({ name: "unbuilt" });
    const json = knownFlow().serialize({ storage }) as SerializedFlow;
    assert.equal(json.storage?.type, "memory");
    assert.equal(json.location, undefined);
    assert.deepEqual(json.labels, ["team-a"]);
  });

  test("build: true without a storage is refused with STORAGE_NOT_BUILT", async () => {
    const error = await expectCode(
      () => knownFlow().serialize({ build: true }),
      "STORAGE_NOT_BUILT",
      "serialize({ build: true })",
    );
    assert.match(error.hint ?? "", /storage/);
  });

  test("a parameter default that is not JSON is refused with NOT_SERIALIZABLE naming it", async () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const [what, value] of [
      ["a bigint", 10n],
      ["a function", () => 1],
      ["a symbol", Symbol("s")],
      ["a cyclic object", cyclic],
    ] as const) {
      const f = flow(unique("bad-default"), () => total(parameter("weird", value as never)));
      const error = await expectCode(() => f.serialize(), "NOT_SERIALIZABLE", what);
      assert.match(error.message, /parameter "weird"/, what);
      assert.match(error.hint ?? "", /plain objects/, what);
    }
  });

  test("a parameter default that JSON would change (Date, Map, NaN, undefined inside) is refused with NOT_SERIALIZABLE", async () => {
    for (const [what, value] of [
      ["a Date", new Date(0)],
      ["a Map", new Map([["a", 1]])],
      ["NaN", Number.NaN],
      ["undefined inside an object", { a: undefined }],
      [
        "a class instance",
        new (class Box {
          x = 1;
        })(),
      ],
    ] as const) {
      const f = flow(unique("lossy-default"), () => total(parameter("lossy", value as never)));
      const error = await expectCode(() => f.serialize(), "NOT_SERIALIZABLE", what);
      assert.match(error.message, /parameter "lossy"/, what);
    }
  });
});
