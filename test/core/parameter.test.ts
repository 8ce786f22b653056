import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, test } from "node:test";
import { parseParameterText, resolveParameters } from "../../src/core/parameter.ts";
import { flow, isWeftError, parameter, task } from "../../src/index.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

/** Asserts that `promise` rejects with a WeftError with `code` whose message matches every pattern. */
async function rejectsCode(promise: Promise<unknown>, code: string, ...patterns: RegExp[]) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isWeftError(error), `expected a WeftError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const p of patterns) assert.match(error.message, p);
    return true;
  });
}

const echo = task("echo", (...values: unknown[]) => values);

const params = flow(unique("params"), () => {
  const name = parameter("name", "world");
  const count = parameter<number>("count", undefined, { type: "integer" });
  const ratio = parameter("ratio", 0.5, {
    validate: (v) => (v >= 0 && v <= 1) || `ratio must lie in [0, 1]`,
  });
  const flags = parameter("flags", ["a"], { description: "feature flags" });
  const opt = parameter<string>("opt", undefined, { required: false });
  return echo(name, count, ratio, flags, opt);
});

describe("parameters", () => {
  test("defaults fill in what the run does not give; given values win", async () => {
    const run = await params.run({ parameters: { count: 3 } });
    assert.equal(run.state.type, "Success");
    assert.deepEqual(run.result(params.outputs), ["world", 3, 0.5, ["a"], undefined]);
    // The values have no prototype (a name can never reach Object.prototype): compare a copy.
    assert.deepEqual(
      { ...run.parameters },
      {
        name: "world",
        count: 3,
        ratio: 0.5,
        flags: ["a"],
        opt: undefined,
      },
    );
    const again = await params.run({ parameters: { count: 1, name: "weft", opt: "x" } });
    assert.deepEqual(again.result(params.outputs), ["weft", 1, 0.5, ["a"], "x"]);
    assert.equal(again.result("name"), "weft", "a parameter's slug is its name");
  });

  test("the declarations are readable from the flow", () => {
    const count = params.parameters.get("count");
    assert.equal(count?.required, true);
    assert.equal(count?.type, "integer");
    assert.equal(params.parameters.get("name")?.type, "string", "inferred from the default");
    assert.equal(params.parameters.get("flags")?.type, "array");
    assert.equal(params.parameters.get("flags")?.description, "feature flags");
    assert.equal(params.parameters.get("opt")?.required, false);
  });

  test("a missing required parameter → MISSING_PARAMETER", async () => {
    await rejectsCode(params.run(), "MISSING_PARAMETER", /"count"/);
    await rejectsCode(params.run({ parameters: { count: undefined } }), "MISSING_PARAMETER");
  });

  test("an unknown parameter → UNKNOWN_PARAMETER with the known ones in the hint", async () => {
    await assert.rejects(params.run({ parameters: { count: 1, colour: "red" } }), (e: unknown) => {
      assert.ok(isWeftError(e));
      assert.equal(e.code, "UNKNOWN_PARAMETER");
      assert.match(e.message, /"colour"/);
      assert.match(e.hint ?? "", /name, count, ratio, flags, opt/);
      return true;
    });
  });

  test("a value of the wrong type → INVALID_PARAMETER naming the parameter and the value", async () => {
    await rejectsCode(
      params.run({ parameters: { count: 1, name: 42 } }),
      "INVALID_PARAMETER",
      /"name"/,
      /must be a string/,
      /42/,
    );
    await rejectsCode(
      params.run({ parameters: { count: 1.5 } }),
      "INVALID_PARAMETER",
      /"count"/,
      /an integer/,
    );
    await rejectsCode(
      params.run({ parameters: { count: 1, flags: "a" } }),
      "INVALID_PARAMETER",
      /an array/,
    );
    await rejectsCode(
      params.run({ parameters: { count: 1, ratio: Number.NaN } }),
      "INVALID_PARAMETER",
      /"ratio"/,
    );
  });

  // Found while writing this suite: the message used to show NaN and Infinity as null.
  test("a NaN or infinite number is named as such in the message", async () => {
    await rejectsCode(
      params.run({ parameters: { count: 1, ratio: Number.NaN } }),
      "INVALID_PARAMETER",
      /got NaN/,
    );
    await rejectsCode(
      params.run({ parameters: { count: Number.POSITIVE_INFINITY } }),
      "INVALID_PARAMETER",
      /got Infinity/,
    );
  });

  test("validate() refusing a value → INVALID_PARAMETER with its message", async () => {
    await rejectsCode(
      params.run({ parameters: { count: 1, ratio: 2 } }),
      "INVALID_PARAMETER",
      /"ratio"/,
      /refused 2/,
      /ratio must lie in \[0, 1\]/,
    );
    const plain = flow(unique("validate-false"), () =>
      echo(parameter("n", 1, { validate: (n) => n > 0 })),
    );
    await rejectsCode(plain.run({ parameters: { n: -1 } }), "INVALID_PARAMETER", /refused -1/);
    assert.equal((await plain.run({ parameters: { n: 5 } })).state.type, "Success");
  });

  test("bad declarations are refused when the flow is built", () => {
    assert.throws(
      () => flow(unique("bad-name"), () => parameter("1st", 1)).build(),
      (e: unknown) => isWeftError(e) && e.code === "INVALID_PARAMETER" && /"1st"/.test(e.message),
    );
    assert.throws(
      () => flow(unique("bad-type"), () => parameter("p", 1, { type: "date" as never })).build(),
      (e: unknown) => isWeftError(e) && e.code === "INVALID_PARAMETER" && /"date"/.test(e.message),
    );
  });

  test("__proto__, constructor and prototype are never parameter names; a task never reaches Object.prototype", async () => {
    for (const name of ["__proto__", "constructor", "prototype"]) {
      assert.throws(
        () => flow(unique("reserved"), () => echo(parameter(name, 1))).build(),
        (e: unknown) =>
          isWeftError(e) &&
          e.code === "INVALID_PARAMETER" &&
          e.message.includes(`"${name}" is reserved`),
      );
      // Values from JSON hold such a key as their own: refused before any task runs.
      await rejectsCode(
        params.run({ parameters: JSON.parse(`{"count": 1, "${name}": {"polluted": true}}`) }),
        "INVALID_PARAMETER",
        new RegExp(`"${name}" is reserved`),
      );
    }
    // The values a run's tasks get have no prototype: no key, declared or not, leads to it.
    const seen: unknown[] = [];
    const grab = task("grab", (values: unknown) => {
      seen.push(values);
      return null;
    });
    const run = await flow(unique("proto-free"), () => grab(parameter("p", { a: 1 }))).run();
    assert.equal(run.state.type, "Success");
    assert.equal(Object.getPrototypeOf(run.parameters), null);
    assert.deepEqual(seen, [{ a: 1 }]);
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
    assert.equal(Object.getPrototypeOf(resolveParameters("f", new Map(), {})), null);
  });

  test("resolveParameters works on declarations alone", () => {
    const specs = params.parameters;
    assert.deepEqual(
      { ...resolveParameters("f", specs, { count: 2 }) },
      {
        name: "world",
        count: 2,
        ratio: 0.5,
        flags: ["a"],
        opt: undefined,
      },
    );
    assert.throws(() => resolveParameters("f", specs, {}), /needs parameter "count"/);
  });

  test("parseParameterText reads text by the declared type", () => {
    const spec = (name: string) => params.parameters.get(name);
    assert.equal(parseParameterText("f", spec("count"), "count", "12"), 12);
    assert.throws(() => parseParameterText("f", spec("count"), "count", "1.5"), /an integer/);
    assert.throws(() => parseParameterText("f", spec("count"), "count", ""), /an integer/);
    assert.equal(parseParameterText("f", spec("name"), "name", "42"), "42");
    assert.deepEqual(parseParameterText("f", spec("flags"), "flags", '["x","y"]'), ["x", "y"]);
    assert.throws(() => parseParameterText("f", spec("flags"), "flags", "[x"), /in JSON/);
    assert.equal(parseParameterText("f", undefined, "free", "true"), true);
    assert.equal(parseParameterText("f", undefined, "free", "hello"), "hello");
  });
});
