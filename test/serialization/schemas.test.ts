// The versioned schemas: the JSON Schemas published from them, and strict
// loading (the field that is wrong is named; a newer version is refused).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { flow, jsonSchemas, parameter, task } from "../../src/index.ts";
import {
  parseSerializedFlow,
  SCHEMA_VERSIONS,
  type SerializedFlow,
  stateFromJSON,
} from "../../src/serialization/index.ts";
import { expectCode } from "../storage/storage.case.ts";

type JsonSchemaObject = {
  $schema?: string;
  type?: string;
  required?: string[];
  additionalProperties?: unknown;
  properties?: Record<string, JsonSchemaObject & { items?: JsonSchemaObject }>;
};

const inc = task("inc", (x: number) => x + 1);
const sample = (): SerializedFlow =>
  flow(`schemas-${randomUUID()}`, () => inc(inc(parameter("x", 1)))).serialize() as SerializedFlow;

describe("jsonSchemas()", () => {
  const schemas = jsonSchemas() as Record<string, JsonSchemaObject>;

  test("has a draft 2020-12 JSON Schema for every object kind, as plain JSON", () => {
    assert.deepEqual(Object.keys(schemas).sort(), ["edge", "flow", "schedule", "state", "task"]);
    for (const [kind, schema] of Object.entries(schemas)) {
      assert.equal(schema.$schema, "https://json-schema.org/draft/2020-12/schema", kind);
    }
    assert.deepEqual(JSON.parse(JSON.stringify(schemas)), schemas);
  });

  test("the flow schema requires its fields and allows no others", () => {
    const f = schemas.flow!;
    assert.equal(f.type, "object");
    assert.equal(f.additionalProperties, false);
    for (const field of [
      "schemaVersion",
      "name",
      "parameters",
      "tasks",
      "edges",
      "referenceTasks",
      "labels",
    ]) {
      assert.ok(f.required?.includes(field), `flow requires ${field}`);
    }
    for (const optional of ["description", "schedule", "storage", "environment", "location"]) {
      assert.ok(f.properties?.[optional], `flow has ${optional}`);
      assert.ok(!f.required?.includes(optional), `${optional} is optional`);
    }
    assert.equal(f.properties?.tasks?.items?.additionalProperties, false);
    assert.equal(f.properties?.parameters?.items?.additionalProperties, false);
  });

  test("task, edge and state schemas are closed objects with their required fields", () => {
    assert.equal(schemas.task!.additionalProperties, false);
    assert.deepEqual(schemas.task!.required?.sort(), ["kind", "mapped", "name", "options", "slug"]);
    assert.equal(schemas.edge!.additionalProperties, false);
    assert.deepEqual(schemas.edge!.required?.sort(), ["downstream", "key", "mapped", "upstream"]);
    assert.equal(schemas.state!.additionalProperties, false);
    assert.deepEqual(schemas.state!.required?.sort(), ["schemaVersion", "timestamp", "type"]);
  });
});

describe("strict loading", () => {
  test("a malformed field is refused with INVALID_SERIALIZED naming its path", async () => {
    const json = sample();
    const bad = structuredClone(json) as unknown as { tasks: { options: { retries: number } }[] };
    bad.tasks[1]!.options.retries = -1;
    const error = await expectCode(() => parseSerializedFlow(bad), "INVALID_SERIALIZED", "retries");
    assert.match(error.message, /flow\.tasks\.1\.options\.retries/);

    const badEdge = structuredClone(json) as unknown as { edges: { key: unknown }[] };
    badEdge.edges[0]!.key = "before";
    const edgeError = await expectCode(
      () => parseSerializedFlow(badEdge),
      "INVALID_SERIALIZED",
      "edge key",
    );
    assert.match(edgeError.message, /flow\.edges\.0\.key/);
  });

  test("an unknown field is refused, naming it", async () => {
    const error = await expectCode(
      () => parseSerializedFlow({ ...sample(), owner: "me" }),
      "INVALID_SERIALIZED",
      "unknown key",
    );
    assert.match(error.message, /owner/);
  });

  test("a missing field is refused, naming it", async () => {
    const { tasks: _tasks, ...rest } = sample();
    const error = await expectCode(() => parseSerializedFlow(rest), "INVALID_SERIALIZED", "tasks");
    assert.match(error.message, /flow\.tasks/);
  });

  test("a schemaVersion newer than known is refused with SCHEMA_VERSION_UNSUPPORTED", async () => {
    const newer = { ...sample(), schemaVersion: SCHEMA_VERSIONS.flow + 1 };
    const error = await expectCode(
      () => parseSerializedFlow(newer),
      "SCHEMA_VERSION_UNSUPPORTED",
      "flow v2",
    );
    assert.match(error.message, /schema version 2 is newer/);
    assert.match(error.hint ?? "", /upgrade weft/);
    await expectCode(
      () =>
        stateFromJSON({
          schemaVersion: SCHEMA_VERSIONS.state + 1,
          type: "Success",
          timestamp: new Date().toISOString(),
        }),
      "SCHEMA_VERSION_UNSUPPORTED",
      "state v2",
    );
  });

  test("an older or missing schemaVersion is refused (no migration exists yet)", async () => {
    for (const schemaVersion of [0, undefined, "1"]) {
      await expectCode(
        () => parseSerializedFlow({ ...sample(), schemaVersion }),
        "INVALID_SERIALIZED",
        `schemaVersion ${String(schemaVersion)}`,
      );
    }
  });

  test("something other than an object is refused, saying what it got", async () => {
    for (const [value, got] of [
      [null, "null"],
      [[], "an array"],
      ["flow", "string"],
    ] as const) {
      const error = await expectCode(
        () => parseSerializedFlow(value),
        "INVALID_SERIALIZED",
        String(got),
      );
      assert.match(error.message, new RegExp(`got ${got}`));
    }
  });
});
