// Deep JSON (issue 13, item 9): a body nested thousands deep overflowed the stack
// in schema parsing, the error preview and the credential walk (500 on every
// write route). It is refused before parsing, 400 naming the limit; the preview
// and the credential walk are bounded for whatever else reaches them.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { assertNoCredentials } from "../../../src/serialization/credentials.ts";
import { preview } from "../../../src/server/api/errors.ts";
import { jsonDeeperThan, MAX_JSON_DEPTH } from "../../../src/server/api/json-depth.ts";
import { expectCode } from "../../support/expect-code.ts";
import { serializedFlow } from "../db/store-fixtures.ts";
import { forEachDialect } from "../dialects.ts";
import { assertError, testApi } from "./api-fixtures.ts";

const nestedArrays = (depth: number, inner = "") =>
  `${"[".repeat(depth)}${inner}${"]".repeat(depth)}`;
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;

/** A value nested `depth` deep, built without recursion. */
function deepValue(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { a: value };
  return value;
}

describe("jsonDeeperThan", () => {
  test("counts brackets outside strings, escapes included", () => {
    assert.equal(jsonDeeperThan("{}", 1), false);
    assert.equal(jsonDeeperThan("[[]]", 1), true);
    assert.equal(jsonDeeperThan(nestedArrays(100), 100), false);
    assert.equal(jsonDeeperThan(nestedArrays(101), 100), true);
    assert.equal(jsonDeeperThan(nestedObjects(101), 100), true);
    // Brackets in strings are text, an escaped quote does not end a string.
    const inString = JSON.stringify({ a: "[".repeat(5000), b: '\\"[[[[', c: ["]]]]"] });
    assert.equal(jsonDeeperThan(inString, 3), false);
    assert.equal(jsonDeeperThan(`[${JSON.stringify('x\\"[')}, [[1]]]`, 2), true);
    // Siblings do not add up: depth is how many are open at once.
    assert.equal(
      jsonDeeperThan(`[${Array.from({ length: 1000 }, () => "[[1]]").join(",")}]`, 3),
      false,
    );
  });

  test("a legitimate serialized flow is far below the limit", () => {
    const body = JSON.stringify({ flow: serializedFlow() });
    let depth = 0;
    while (!jsonDeeperThan(body, depth)) depth++;
    assert.ok(depth <= 10, `a flow registration nests ${depth} levels`);
    assert.ok(depth * 4 < MAX_JSON_DEPTH);
  });
});

describe("recursion that deep input may still reach is bounded", () => {
  test("the error preview shows at most 80 characters of any value", () => {
    const shown = preview(deepValue(50_000));
    assert.ok(shown.length <= 80, shown);
    assert.match(shown, /^\{"a":\[\{"a":\[/);
    assert.equal(preview({ a: [1, "two"] }), '{"a":[1,"two"]}');
    assert.equal(preview("x".repeat(10_000)).length, 78);
    const wide = preview(
      Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i])),
    );
    assert.ok(wide.length <= 80 && wide.startsWith('{"k0":0,"k1":1'), wide);
  });

  test("the credential walk refuses a value nested too deep rather than overflow", async () => {
    const error = await expectCode(
      () => assertNoCredentials({ type: "local", x: deepValue(50_000) }, "flow.storage"),
      "INVALID_SERIALIZED",
      "50,000 deep",
    );
    assert.match(error.message, /^flow\.storage nests .* deeper than \d+ levels/);
    assert.doesNotThrow(() =>
      assertNoCredentials({ type: "local", x: deepValue(50) }, "flow.storage"),
    );
  });
});

forEachDialect("deep JSON bodies", (ctx) => {
  test("a body nested 5,000 deep is 400 on every write route of the OpenAPI document, none 500", async () => {
    const store = await ctx.open();
    const api = testApi(store);
    const doc = (await api.call("GET", "/api/openapi.json")).body;
    const { flow } = await store.flows.register(serializedFlow());
    const { run } = await store.runs.create({ flowId: flow.id });
    const agent = (await api.call("POST", "/api/agents", { name: `agent-${randomUUID()}` })).body;
    const ids: Record<string, string> = {
      flows: flow.id,
      "flow-runs": run.id,
      agents: agent.id,
      tokens: "t",
    };
    const bodies = [nestedArrays(5000), nestedObjects(5000), `{"flow":${nestedObjects(5000)}}`];
    let writes = 0;
    for (const [template, item] of Object.entries(
      doc.paths as Record<string, Record<string, { requestBody?: unknown }>>,
    )) {
      const operation = item.post;
      if (operation === undefined) continue;
      // A real id where the path has one: the deep body, not a missing thing, is what is answered.
      const path = template.replace(
        /\/([a-z-]+)\/\{id\}/,
        (_, kind: string) => `/${kind}/${ids[kind] ?? "x"}`,
      );
      writes++;
      for (const body of bodies) {
        const answer = await api.call("POST", path, body);
        if (operation.requestBody === undefined) {
          // No body is read there: whatever the route answers, it is not a crash.
          assert.ok(answer.status < 500, `POST ${path}: ${JSON.stringify(answer.body)}`);
          continue;
        }
        assertError(answer, 400, "INVALID_REQUEST", [`${MAX_JSON_DEPTH} levels`]);
        assert.ok(answer.body.error.hint.includes(`${MAX_JSON_DEPTH}`));
      }
    }
    assert.ok(writes >= 10, `the document lists the write routes (${writes})`);
  });

  test("a body at the limit is parsed and validated; one level more is refused", async () => {
    const api = testApi(await ctx.open());
    const flowName = `missing-${randomUUID()}`;
    // {"flowName":…,"parameters":{"p":[…]}}: 2 levels of envelope.
    const atLimit = `{"flowName":"${flowName}","parameters":{"p":${nestedArrays(MAX_JSON_DEPTH - 2, "1")}}}`;
    assertError(await api.call("POST", "/api/flow-runs", atLimit), 404, "FLOW_NOT_FOUND");
    const over = `{"flowName":"${flowName}","parameters":{"p":${nestedArrays(MAX_JSON_DEPTH - 1, "1")}}}`;
    assertError(await api.call("POST", "/api/flow-runs", over), 400, "INVALID_REQUEST", [
      `deeper than the limit of ${MAX_JSON_DEPTH} levels`,
    ]);
  });
});
