// The result backend conformance suite: one set of cases that every result
// backend kind must pass, run by each kind's own test file (as Hono's router
// tests and weft's storage suite do):
//
//   runResultBackendConformance("local", async ({ tmp, template, serializer }) => {
//     const directory = join(tmp, "results");
//     const open = (s) => createLocalResultBackend({ directory, template, serializer: s });
//     return { backend: open(serializer), withSerializer: open, overwrite, stored };
//   });
//
// A kind that cannot pass a case skips it by name with its reason
// (`skip: { [case name]: reason }`); node:test prints the reason with the skip.
// Every case gets a fresh temporary directory (`tmp`) and fresh backends, so
// cases never share stored results.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import {
  DEFAULT_RESULT_TEMPLATE,
  type ResultBackend,
  type ResultContext,
} from "../../../src/core/results.ts";
import type { ResultSerializer } from "../../../src/engine/results/result-serializers.ts";
import { resultBackendFromJSON } from "../../../src/storage/result-backend-registry.ts";
import { expectCode } from "../../support/expect-code.ts";

export { expectCode };

/** What `make` receives: a fresh directory of the case, and the options of the backend to make. */
export interface ResultBackendMakeOptions {
  readonly tmp: string;
  /** Undefined: the kind's default template. */
  readonly template: string | undefined;
  /** Undefined: the kind's default serializer. */
  readonly serializer: ResultSerializer | undefined;
}

/** A backend under test and the means to look at what it stored without it. */
export interface ResultBackendFixture {
  readonly backend: ResultBackend;
  /** Another backend over the same place and template, with another serializer. */
  withSerializer(serializer: ResultSerializer): ResultBackend | Promise<ResultBackend>;
  /** Replaces what is stored at `location` with `bytes`, bypassing the backend (to corrupt it). */
  overwrite(location: string, bytes: Uint8Array | string): Promise<void>;
  /** Whether something is stored at `location`, seen without the backend. */
  stored(location: string): Promise<boolean>;
}

/** Options of {@link runResultBackendConformance}. */
export interface ResultBackendConformanceOptions {
  /** Case name → why this kind skips it (printed by the test runner). */
  skip?: Readonly<Partial<Record<ResultBackendCase, string>>>;
}

/** Every case of the suite, by the name that `skip` uses. */
export const RESULT_BACKEND_CASES = [
  "type is the kind, name is non-empty, the template is the default",
  "write(value, ctx) returns the rendered template location",
  "write(value, location) stores at that explicit location",
  "json: objects, arrays, strings, numbers, booleans and null read back equal",
  "binary: Date, Map, Set, typed arrays, BigInt, nested values and cycles read back equal",
  "exists is false before a write and true after",
  "a second write at a location replaces the first",
  "json refuses a Date, Map or NaN with RESULT_NOT_SERIALIZABLE; a task's undefined round-trips",
  "binary refuses a function or a symbol with RESULT_NOT_SERIALIZABLE",
  "a template with an unknown field or a way out is refused at creation",
  "rendered locations stay inside the backend whatever the field values",
  "explicit locations that escape are refused with RESULT_LOCATION_ESCAPE",
  "reading where nothing was written fails with RESULT_UNREADABLE naming the location",
  "a corrupt result fails with RESULT_UNREADABLE saying corrupt",
  "toJSON round-trips through resultBackendFromJSON and still reads what was written",
  "json and binary backends read each other's results",
] as const;
/** One of {@link RESULT_BACKEND_CASES}. */
export type ResultBackendCase = (typeof RESULT_BACKEND_CASES)[number];

/** Asserts that `message` contains every one of `parts`. */
export function assertNames(message: string, ...parts: string[]): void {
  for (const part of parts) assert.ok(message.includes(part), `"${part}" in: ${message}`);
}

/** A task run's context with unique names (a fresh flow run id every time). */
export function resultContext(overrides: Partial<ResultContext> = {}): ResultContext {
  return {
    flowName: `flow-${randomUUID().slice(0, 8)}`,
    flowRunId: randomUUID(),
    taskSlug: "extract-1",
    taskName: "extract",
    mapIndex: undefined,
    ...overrides,
  };
}

/** Values that JSON carries exactly. */
const JSON_VALUES: readonly unknown[] = [
  { id: 1, name: "a", tags: ["x", "y"], nested: { deep: { deeper: [] } }, none: null },
  [1, "two", 3.5, true, false, null, { k: [] }],
  'text with unicode ✓, "quotes" and\nnew lines',
  "",
  42,
  -7.25,
  0,
  true,
  false,
  null,
];

/** Values only the binary serializer carries (the last two hold cycles). */
function binaryValues(): unknown[] {
  const cyclic: Record<string, unknown> = { name: "cyclic" };
  cyclic.self = cyclic;
  const ring: unknown[] = [1];
  ring.push(ring);
  return [
    new Date("2024-02-29T12:34:56.789Z"),
    new Map<unknown, unknown>([
      ["a", 1],
      [2, { b: [1n] }],
    ]),
    new Set([1, "x", null]),
    new Uint8Array([0, 1, 254, 255]),
    new Float64Array([1.5, -0, Number.NaN]),
    new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]),
    2n ** 100n,
    Number.NaN,
    undefined,
    {
      when: new Date(0),
      seen: new Set(["a"]),
      index: new Map([["k", { at: new Date(1), bytes: new Uint8Array([7]) }]]),
      list: [new Date(2), 3n, [new Set([4])]],
    },
    cyclic,
    ring,
  ];
}

/** The ways a location can try to leave the backend. */
const ESCAPING_LOCATIONS = [
  "../x",
  "../../etc/passwd",
  "a/../../x",
  "/abs",
  "/etc/passwd",
  "a//b",
  "a/",
  "./a",
  "a/./b",
  "",
  "a\\..\\..\\x",
  "C:/x",
  "a\0b",
];

/**
 * Defines the conformance suite of one result backend kind with node:test.
 * Call it at the top level of a test file; `make` is called once per backend a
 * case needs, with a fresh directory each time, and must put each backend in a
 * place of its own (a directory, a prefix).
 */
export function runResultBackendConformance(
  kind: string,
  make: (options: ResultBackendMakeOptions) => Promise<ResultBackendFixture>,
  options: ResultBackendConformanceOptions = {},
): void {
  const skip: Readonly<Record<string, string | undefined>> = options.skip ?? {};

  describe(`result backend conformance: ${kind}`, () => {
    /** Registers one case, skipped with its reason when the kind asks. */
    const conformance = (
      name: ResultBackendCase,
      fn: (
        open: (o?: Partial<Omit<ResultBackendMakeOptions, "tmp">>) => Promise<ResultBackendFixture>,
      ) => Promise<void>,
    ) => {
      const reason = skip[name];
      if (reason !== undefined) {
        test(name, { skip: reason }, () => {});
        return;
      }
      test(name, async () => {
        const dirs: string[] = [];
        const open = async (o: Partial<Omit<ResultBackendMakeOptions, "tmp">> = {}) => {
          const tmp = await mkdtemp(join(tmpdir(), `weft-results-${kind}-`));
          dirs.push(tmp);
          return make({ tmp, template: o.template, serializer: o.serializer });
        };
        try {
          await fn(open);
        } finally {
          await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
        }
      });
    };

    test("options.skip names only cases of the suite, each with a reason", () => {
      const unknown = Object.keys(skip).filter(
        (name) => !(RESULT_BACKEND_CASES as readonly string[]).includes(name),
      );
      assert.deepEqual(unknown, [], `known cases: ${RESULT_BACKEND_CASES.join(" | ")}`);
      for (const [name, why] of Object.entries(skip)) {
        assert.ok((why ?? "").trim().length > 0, `the skip of "${name}" needs a reason`);
      }
    });

    conformance(
      "type is the kind, name is non-empty, the template is the default",
      async (open) => {
        const { backend } = await open();
        assert.equal(backend.type, kind);
        assert.equal(typeof backend.name, "string");
        assert.ok(backend.name.length > 0, "name is empty");
        assert.equal(backend.template, DEFAULT_RESULT_TEMPLATE);
        const json = backend.toJSON();
        assert.equal(json.type, kind);
        assert.equal(json.schemaVersion, 1);
      },
    );

    conformance("write(value, ctx) returns the rendered template location", async (open) => {
      const plain = await open();
      const ctx = resultContext();
      const location = await plain.backend.write({ n: 1 }, ctx);
      assert.equal(location, `${ctx.flowName}/extract-1/-/${ctx.flowRunId}`);
      assert.deepEqual(await plain.backend.read(location), { n: 1 });
      assert.equal(await plain.stored(location), true, "the result is where the location says");

      const template = "runs/{flowRunId}/{taskName}.{mapIndex}/{taskSlug}-{flowName}";
      const custom = await open({ template });
      assert.equal(custom.backend.template, template);
      const child = resultContext({ mapIndex: 3 });
      const childLocation = await custom.backend.write([3], child);
      assert.equal(childLocation, `runs/${child.flowRunId}/extract.3/extract-1-${child.flowName}`);
      assert.deepEqual(await custom.backend.read(childLocation), [3]);
      assert.equal(await custom.stored(childLocation), true);
    });

    conformance("write(value, location) stores at that explicit location", async (open) => {
      const { backend, stored } = await open();
      const location = `explicit/${randomUUID()}/value.json`;
      assert.equal(await backend.write("here", location), location);
      assert.equal(await backend.read(location), "here");
      assert.equal(await stored(location), true);
    });

    conformance(
      "json: objects, arrays, strings, numbers, booleans and null read back equal",
      async (open) => {
        const { backend } = await open({ serializer: "json" });
        for (const [i, value] of JSON_VALUES.entries()) {
          const location = await backend.write(value, resultContext({ mapIndex: i }));
          assert.deepEqual(await backend.read(location), value, `value ${i}`);
        }
      },
    );

    conformance(
      "binary: Date, Map, Set, typed arrays, BigInt, nested values and cycles read back equal",
      async (open) => {
        const { backend } = await open({ serializer: "binary" });
        const values = binaryValues();
        const back: unknown[] = [];
        for (const [i, value] of values.entries()) {
          const location = await backend.write(value, `binary/${i}`);
          back.push(await backend.read(location));
          assert.deepEqual(back[i], value, `value ${i}`);
        }
        // Types survive, not only shapes.
        assert.ok(back[0] instanceof Date);
        assert.ok(back[1] instanceof Map);
        assert.ok(back[2] instanceof Set);
        assert.ok(back[5] instanceof BigInt64Array);
        assert.equal(typeof back[6], "bigint");
        assert.ok(Object.is(back[7], Number.NaN));
        // Cycles come back as cycles.
        const cyclic = back[10] as { self: unknown };
        assert.equal(cyclic.self, cyclic);
        const ring = back[11] as unknown[];
        assert.equal(ring[1], ring);
        // And JSON values are binary values too.
        for (const [i, value] of JSON_VALUES.entries()) {
          assert.deepEqual(await backend.read(await backend.write(value, `plain/${i}`)), value);
        }
      },
    );

    conformance("exists is false before a write and true after", async (open) => {
      const { backend } = await open();
      const ctx = resultContext();
      const location = `${ctx.flowName}/extract-1/-/${ctx.flowRunId}`;
      assert.equal(await backend.exists(location), false);
      assert.equal(await backend.exists(`never/${randomUUID()}`), false);
      assert.equal(await backend.write("x", ctx), location);
      assert.equal(await backend.exists(location), true);
      // A prefix of a stored location is not a result.
      assert.equal(await backend.exists(ctx.flowName), false);
    });

    conformance("a second write at a location replaces the first", async (open) => {
      const json = await open({ serializer: "json" });
      const ctx = resultContext();
      const location = await json.backend.write({ version: 1, long: "x".repeat(1000) }, ctx);
      assert.equal(await json.backend.write({ version: 2 }, ctx), location);
      assert.deepEqual(await json.backend.read(location), { version: 2 });

      const binary = await open({ serializer: "binary" });
      await binary.backend.write(new Map([["v", 1]]), "same");
      await binary.backend.write(new Set([2]), "same");
      assert.deepEqual(await binary.backend.read("same"), new Set([2]));
    });

    conformance(
      "json refuses a Date, Map or NaN with RESULT_NOT_SERIALIZABLE; a task's undefined round-trips",
      async (open) => {
        const { backend, stored } = await open({ serializer: "json" });
        // A task that returns nothing is stored as such, by either serializer.
        const nothing = await backend.write(undefined, `nothing/${randomUUID()}`);
        assert.equal(await backend.read(nothing), undefined);
        assert.equal(await backend.exists(nothing), true);
        const refused: [string, unknown][] = [
          ["a Date", new Date(0)],
          ["a Map", new Map([["a", 1]])],
          ["a Set", new Set([1])],
          ["NaN", Number.NaN],
          ["a member that is undefined", { a: undefined }],
          ["a nested Date", { at: [new Date(0)] }],
          ["a BigInt", 1n],
          ["a typed array", new Uint8Array([1])],
        ];
        for (const [what, value] of refused) {
          const location = `refused/${randomUUID()}`;
          const error = await expectCode(
            () => backend.write(value, location),
            "RESULT_NOT_SERIALIZABLE",
            what,
          );
          assertNames(error.message, "json", location);
          assert.match(error.hint ?? "", /binary/, `${what}: the hint names the binary serializer`);
          assert.equal(await stored(location), false, `${what}: nothing is stored`);
          assert.equal(await backend.exists(location), false, `${what}: nothing exists`);
        }
      },
    );

    conformance(
      "binary refuses a function or a symbol with RESULT_NOT_SERIALIZABLE",
      async (open) => {
        const { backend, stored } = await open({ serializer: "binary" });
        const refused: [string, unknown][] = [
          ["a function", () => 1],
          ["a nested function", { transform: (x: number) => x, data: [1] }],
          ["a symbol", Symbol("s")],
        ];
        for (const [what, value] of refused) {
          const location = `refused/${randomUUID()}`;
          const error = await expectCode(
            () => backend.write(value, location),
            "RESULT_NOT_SERIALIZABLE",
            what,
          );
          assertNames(error.message, location);
          assert.equal(await stored(location), false, `${what}: nothing is stored`);
        }
      },
    );

    conformance(
      "a template with an unknown field or a way out is refused at creation",
      async (open) => {
        const unknown = await expectCode(
          () => open({ template: "{flowName}/{taskId}/{flowRunId}" }),
          "INVALID_FLOW_OPTIONS",
          "unknown field",
        );
        assertNames(unknown.message, "{taskId}");
        assertNames(unknown.hint ?? "", "{flowName}", "{mapIndex}");
        for (const template of [
          "../{flowName}/{flowRunId}",
          "/{flowRunId}",
          "{flowName}//{flowRunId}",
        ]) {
          await expectCode(() => open({ template }), "RESULT_LOCATION_ESCAPE", template);
        }
      },
    );

    conformance(
      "rendered locations stay inside the backend whatever the field values",
      async (open) => {
        const template = "{flowName}/{taskName}/{taskSlug}/{mapIndex}/{flowRunId}";
        const { backend, stored } = await open({ template });
        const cases: [Partial<ResultContext>, string][] = [
          [
            { flowName: "../../etc", taskName: "..", taskSlug: "a/b\\c", flowRunId: "." },
            ".._.._etc/_/a_b_c/-/_",
          ],
          [
            { flowName: "/abs", taskName: "x/../../y", taskSlug: "..", flowRunId: "/" },
            "_abs/x_.._.._y/_/-/_",
          ],
        ];
        for (const [fields, expected] of cases) {
          const ctx = resultContext(fields);
          const location = await backend.write({ fields }, ctx);
          assert.equal(location, expected);
          assert.equal(location.split("/").length, 5, "one segment per field");
          assert.deepEqual(await backend.read(location), { fields });
          assert.equal(await stored(location), true, `${location} is inside the backend`);
        }
      },
    );

    conformance(
      "explicit locations that escape are refused with RESULT_LOCATION_ESCAPE",
      async (open) => {
        const { backend } = await open();
        for (const location of ESCAPING_LOCATIONS) {
          const shown = JSON.stringify(location);
          await expectCode(
            () => backend.write(1, location),
            "RESULT_LOCATION_ESCAPE",
            `write ${shown}`,
          );
          await expectCode(() => backend.read(location), "RESULT_LOCATION_ESCAPE", `read ${shown}`);
          await expectCode(
            () => backend.exists(location),
            "RESULT_LOCATION_ESCAPE",
            `exists ${shown}`,
          );
        }
      },
    );

    conformance(
      "reading where nothing was written fails with RESULT_UNREADABLE naming the location",
      async (open) => {
        const { backend } = await open();
        const location = `missing/${randomUUID()}`;
        const error = await expectCode(
          () => backend.read(location),
          "RESULT_UNREADABLE",
          "missing",
        );
        assertNames(error.message, location);
        // A location below a stored result is not one either.
        const stored = await backend.write(1, resultContext());
        const below = `${stored}/x`;
        const deeper = await expectCode(() => backend.read(below), "RESULT_UNREADABLE", "below");
        assertNames(deeper.message, below);
      },
    );

    conformance("a corrupt result fails with RESULT_UNREADABLE saying corrupt", async (open) => {
      const { backend, overwrite } = await open({ serializer: "json" });
      const garbage: [string, Uint8Array | string][] = [
        ["half a JSON document", '{"rows": [1, 2'],
        ["an empty object", new Uint8Array()],
        ["a truncated binary result", new Uint8Array([0xff, 0x0f, 0x6f, 0x22, 0x05])],
        ["random bytes", new Uint8Array([0x00, 0x9f, 0x92, 0x96, 0xfe, 0x01])],
      ];
      for (const [what, bytes] of garbage) {
        const location = await backend.write({ ok: true }, resultContext());
        await overwrite(location, bytes);
        const error = await expectCode(() => backend.read(location), "RESULT_UNREADABLE", what);
        assertNames(error.message, location, "corrupt");
      }
    });

    conformance(
      "toJSON round-trips through resultBackendFromJSON and still reads what was written",
      async (open) => {
        for (const serializer of ["json", "binary"] as const) {
          const template = "{flowName}/{flowRunId}/{taskSlug}.{mapIndex}";
          const { backend } = await open({ serializer, template });
          const value = serializer === "json" ? { rows: [1, 2] } : new Map([["rows", [1, 2]]]);
          const location = await backend.write(value, resultContext());
          const json = backend.toJSON();
          const text = JSON.stringify(json);
          const back = resultBackendFromJSON(JSON.parse(text));
          assert.deepEqual(back.toJSON(), json);
          assert.equal(JSON.stringify(back.toJSON()), text);
          assert.equal(back.type, kind);
          assert.equal(back.name, backend.name);
          assert.equal(back.template, template);
          assert.deepEqual(await back.read(location), value);
          assert.equal(await back.exists(location), true);
          // What the rebuilt one writes, the original reads.
          const again = await back.write(value, resultContext());
          assert.deepEqual(await backend.read(again), value);
        }
      },
    );

    conformance("json and binary backends read each other's results", async (open) => {
      const fixture = await open({ serializer: "json" });
      const json = fixture.backend;
      const binary = await fixture.withSerializer("binary");
      const fromJson = await json.write({ a: [1, "b"] }, resultContext());
      assert.deepEqual(await binary.read(fromJson), { a: [1, "b"] });
      assert.equal(await binary.exists(fromJson), true);
      const value = new Map([["when", new Date(5)]]);
      const fromBinary = await binary.write(value, resultContext());
      assert.deepEqual(await json.read(fromBinary), value);
      assert.equal(await json.exists(fromBinary), true);
      // And the json backend still refuses to write what only binary carries.
      await expectCode(() => json.write(value, "x"), "RESULT_NOT_SERIALIZABLE", "json write");
    });
  });
}
