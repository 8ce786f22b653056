// Flow and task names: any printable text (Prefect's "Example: Mapping",
// "Map / Reduce 🤓"), refused only when it cannot be shown; slugs for paths.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { NAME_MAX_LENGTH, nameProblem, slugify } from "../../src/core/names.ts";
import { flow, task } from "../../src/index.ts";
import { serializeFlowGraph } from "../../src/serialization/flow-serializer.ts";
import { LIMITS } from "../../src/serialization/limits.ts";
import { flowSchema } from "../../src/serialization/schemas.ts";

const inc = task("inc", (x: number) => x + 1);

describe("flow and task names", () => {
  test("printable names Prefect accepts are flow names, and their tasks keep their slugs", async () => {
    for (const name of [
      "Example: Mapping",
      "Map / Reduce 🤓",
      "Report #7 at 100%",
      "ETL_daily.v2",
    ]) {
      const f = flow(name, () => inc(1));
      assert.equal(f.name, name);
      const run = await f.run();
      assert.equal(run.state.type, "Success", name);
      assert.equal(run.flowName, name);
    }
  });

  test("task names may hold spaces, slashes and emoji; the slug is the name and -<n>", async () => {
    const odd = task("add one: x / 🤓", (x: number) => x + 1);
    const f = flow("odd tasks", () => odd(odd(1)));
    const run = await f.run();
    assert.equal(run.result("add one: x / 🤓-2"), 3);
  });

  test("refused: empty, too long, control characters, lone surrogates, whitespace at an end", () => {
    const bad: [unknown, RegExp][] = [
      ["", /must not be empty/],
      ["x".repeat(NAME_MAX_LENGTH + 1), /at most 200 characters/],
      ["line\nbreak", /control character \(U\+000A at index 4\)/],
      ["nul\u0000", /U\+0000/],
      ["del\u007f", /U\+007F/],
      ["sep\u2028", /U\+2028/],
      ["lone \ud800", /lone surrogate/],
      [" lead", /whitespace/],
      ["trail\u00a0", /whitespace/],
      [42, /must be a string/],
    ];
    for (const [name, why] of bad) {
      assert.match(nameProblem(name) ?? "", why, JSON.stringify(name));
      assert.throws(
        () => flow(name as string, () => inc(1)),
        (e: Error & { code?: string; hint?: string }) =>
          e.code === "INVALID_FLOW_NAME" && why.test(e.message) && /printable/.test(e.hint ?? ""),
      );
      if (typeof name === "string") {
        assert.throws(() => task(name, (x: number) => x), { code: "INVALID_TASK_OPTIONS" });
      }
    }
    // Emoji sequences joined with U+200D and names of exactly the limit are fine.
    assert.equal(nameProblem("family 👨‍👩‍👧"), undefined);
    assert.equal(nameProblem("x".repeat(NAME_MAX_LENGTH)), undefined);
  });

  test("a name's limit leaves room under the server's name limit for a run's name", () => {
    // The server names scheduled runs `<flow>-<ISO time>` (25 more characters).
    assert.ok(NAME_MAX_LENGTH + 25 <= LIMITS.name, "keep core/names.ts and limits.ts in step");
    assert.ok(NAME_MAX_LENGTH + 12 <= LIMITS.slug, "a task slug is the name and -<n>");
  });

  test("the server's flow schema accepts what flow() accepts and refuses what it refuses", () => {
    const json = serializeFlowGraph(flow("Map / Reduce 🤓", () => inc(1)));
    assert.equal(flowSchema.safeParse(json).success, true);
    const parsed = flowSchema.safeParse({ ...json, name: "tab\there" });
    assert.equal(parsed.success, false);
    assert.match(JSON.stringify(parsed.error?.issues), /control character/);
    assert.equal(flowSchema.safeParse({ ...json, name: "etl " }).success, false);
  });

  test("slugs: lowercase ASCII letters, digits and dashes; accents dropped; emoji-only names in hex", () => {
    assert.equal(slugify("Example: Mapping"), "example-mapping");
    assert.equal(slugify("Map / Reduce 🤓"), "map-reduce");
    assert.equal(slugify("Report #7 at 100%"), "report-7-at-100");
    assert.equal(slugify("Café Crème"), "cafe-creme");
    assert.equal(slugify("ETL_daily.v2"), "etl-daily-v2");
    assert.equal(slugify("etl"), "etl");
    assert.equal(slugify("🤓"), "u1f913");
    assert.equal(slugify("🤓🚀"), "u1f913-u1f680");
    assert.equal(slugify("x".repeat(200)).length, 80);
    for (const s of [slugify("a -- b"), slugify("-x-"), slugify("日本語 flow")]) {
      assert.match(s, /^[a-z0-9]+(-[a-z0-9]+)*$/, s);
    }
  });
});
