// States as versioned JSON: what the API and the flow-run process exchange.
// A task's error crosses as data ({ type, message, stack, code }).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { toErrorData } from "../../src/core/states.ts";
import { flow, jsonSchemas, parameter, State, task } from "../../src/index.ts";
import { parseEventLine, stateFromJSON, stateToJSON } from "../../src/serialization/index.ts";
import { expectCode } from "../storage/storage.case.ts";
import { checkJsonSchema } from "./json-schema-check.ts";

const T0 = Date.parse("2026-03-08T07:00:00.000Z");
const stateSchema = (jsonSchemas() as Record<string, object>).state!;

/** JSON → State → JSON must give the same JSON, and it must fit the published schema. */
function assertRoundTrip(state: State): void {
  const json = stateToJSON(state);
  assert.deepEqual(checkJsonSchema(stateSchema, JSON.parse(JSON.stringify(json))), []);
  const back = stateFromJSON(JSON.parse(JSON.stringify(json)));
  assert.deepEqual(stateToJSON(back), json);
  assert.equal(back.type, state.type);
  assert.equal(back.message, state.message);
  assert.equal(back.timestamp, state.timestamp);
  assert.equal(back.startedAt, state.startedAt);
  assert.equal(back.attempts, state.attempts);
  assert.equal(back.retryAt, state.retryAt);
  assert.deepEqual(back.error, state.error);
  assert.equal(back.location, state.location);
}

describe("stateToJSON / stateFromJSON", () => {
  test("a Success whose result is persisted keeps its location, also through a run event", () => {
    const persisted = State.withResult("Success", undefined, 42, T0 - 10, 1, "etl/load-1/-/run-7");
    assertRoundTrip(persisted);
    assert.equal(stateToJSON(persisted).location, "etl/load-1/-/run-7");
    const line = JSON.stringify({
      event: "task",
      slug: "load-1",
      name: "load",
      mapped: false,
      state: stateToJSON(persisted),
    });
    const event = parseEventLine(line);
    assert.equal(event.event === "task" && event.state.location, "etl/load-1/-/run-7");
  });

  test("a Failed state keeps its error data: type, message, stack and code", () => {
    const thrown = Object.assign(new TypeError("row 7 is not a number"), { code: "E_ROW" });
    const failed = new State(
      "Failed",
      "task parse-1 failed after 3 attempts",
      undefined,
      toErrorData(thrown),
      T0 - 1_500,
      3,
      undefined,
      undefined,
      T0,
    );
    assertRoundTrip(failed);
    const json = stateToJSON(failed);
    assert.equal(json.error?.type, "TypeError");
    assert.equal(json.error?.message, "row 7 is not a number");
    assert.equal(json.error?.code, "E_ROW");
    assert.match(json.error?.stack ?? "", /TypeError: row 7 is not a number/);
    assert.equal(json.timestamp, "2026-03-08T07:00:00.000Z");
    assert.equal(json.startedAt, "2026-03-08T06:59:58.500Z");
  });

  test("the error of a real failed task run crosses intact", async () => {
    const explode = task("explode", (n: number) => {
      throw new RangeError(`n=${n} is out of range`);
    });
    const f = flow(`states-${randomUUID()}`, () => explode(parameter("n", 5)));
    const run = await f.run();
    const state = run.stateOf("explode-1");
    assert.equal(state.type, "Failed");
    assertRoundTrip(state);
    const back = stateFromJSON(stateToJSON(state));
    assert.equal(back.error?.type, "RangeError");
    assert.equal(back.error?.message, "n=5 is out of range");
    assert.ok(back.isFailed());
  });

  test("Retrying keeps retryAt; Success keeps a JSON result; Cancelled keeps its message", () => {
    assertRoundTrip(
      new State("Retrying", "retry 1 of 2", undefined, undefined, T0, 1, T0 + 5_000, undefined, T0),
    );
    const success = new State("Success", undefined, { rows: [1, 2], ok: true }, undefined, T0 - 5);
    assertRoundTrip(success);
    assert.deepEqual(stateFromJSON(stateToJSON(success)).result, { rows: [1, 2], ok: true });
    assertRoundTrip(new State("Cancelled", "cancelled by the user", undefined, undefined, T0));
    assertRoundTrip(new State("Scheduled"));
  });

  test("a result that is not JSON is left out, not thrown", () => {
    const json = stateToJSON(new State("Success", undefined, { big: 10n }));
    assert.equal("result" in json, false);
    assert.deepEqual(checkJsonSchema(stateSchema, json), []);
  });

  test("an unknown state type or a malformed error is refused, naming the field", async () => {
    const at = new Date(T0).toISOString();
    const unknown = await expectCode(
      () => stateFromJSON({ schemaVersion: 1, type: "Exploded", timestamp: at }),
      "INVALID_SERIALIZED",
      "type",
    );
    assert.match(unknown.message, /state\.type/);
    assert.match(unknown.message, /"Exploded"/);
    const badError = await expectCode(
      () =>
        stateFromJSON({ schemaVersion: 1, type: "Failed", timestamp: at, error: { type: "E" } }),
      "INVALID_SERIALIZED",
      "error.message",
    );
    assert.match(badError.message, /state\.error\.message/);
    const badTime = await expectCode(
      () => stateFromJSON({ schemaVersion: 1, type: "Success", timestamp: "yesterday" }),
      "INVALID_SERIALIZED",
      "timestamp",
    );
    assert.match(badTime.message, /state\.timestamp/);
  });

  test("a Mapped state keeps its number of children across a round trip", () => {
    const children = [new State("Success"), new State("Success"), new State("Failed")];
    const mapped = new State(
      "Mapped",
      "3 children",
      [1, 2],
      undefined,
      T0 - 9,
      1,
      undefined,
      children,
      T0,
    );
    assert.equal(stateToJSON(mapped).children, 3);
    assertRoundTrip(mapped);
    assert.equal(stateToJSON(stateFromJSON(stateToJSON(mapped))).children, 3);
  });

  test("a result that JSON would change (a Map, a Set) is left out rather than sent as {}", () => {
    for (const result of [new Map([["a", 1]]), new Set([1, 2])]) {
      const json = stateToJSON(new State("Success", undefined, result));
      assert.equal("result" in json, false, JSON.stringify(json.result));
    }
  });
});
