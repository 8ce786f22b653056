// The quick check of task-run state writes against the route's schema: whatever
// it accepts, zod accepts with the same output (key order included); what zod
// refuses, it leaves to zod. Bodies are made by varying one, two or three fields
// of a plain write at a time (seeded, so a failure repeats).
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { test } from "node:test";
import {
  MAX_TASK_RUN_WRITES,
  setTaskRunStatesRequestSchema,
} from "../../src/serialization/api-schemas.ts";
import { quickTaskRunStates } from "../../src/serialization/task-run-writes-check.ts";

const ABSENT = Symbol("absent");
const long = (n: number) => "a".repeat(n);
const TIMES = [
  "2030-01-01T00:00:00.000Z",
  "2030-01-01T00:00:00Z",
  "2030-01-01T01:00:00.5+01:00",
  "2028-02-29T00:00:00Z",
  "2030-02-29T00:00:00Z",
  "2030-04-31T00:00:00Z",
  "1970-01-01T00:30:00+01:00",
  "1969-12-31T23:59:59.999Z",
  "9999-12-31T23:59:59.999Z",
  "2030-01-01T24:00:00Z",
  "2030-01-01T00:00Z",
  "2030-01-01",
  "2030-01-01 00:00:00Z",
  0,
  null,
];
const NAMES = [randomUUID(), "work-1", "", long(256), long(257), "a\u0000b", "x\ud800", 5, null];
const INTS = [0, 1, 7, -1, 1.5, 2 ** 31 - 1, 2 ** 31, "3", null, Number.NaN];

/** The values each field of a write (and of its state) is given, ABSENT for a missing key. */
const WRITE_FIELDS: Record<string, unknown[]> = {
  flowRunId: NAMES,
  slug: NAMES,
  mapIndex: [ABSENT, ...INTS],
  version: [ABSENT, ...INTS],
  claim: [ABSENT, ...INTS],
  resultRef: [ABSENT, "r/x", "", long(4096), long(4097), "x\u0000", "\udc00", 1],
  extra: [ABSENT, 1, "x"],
  state: [null, "Running", [], {}],
};
const STATE_FIELDS: Record<string, unknown[]> = {
  schemaVersion: [1, 2, "1", ABSENT],
  type: ["Running", "Success", "Retrying", "Nope", 5, ABSENT],
  timestamp: [ABSENT, ...TIMES],
  startedAt: [ABSENT, ...TIMES],
  attempts: [ABSENT, ...INTS],
  message: [ABSENT, "hi", "a\u0000b"],
  result: [ABSENT, { a: 1 }, [1, "x"]],
  location: [ABSENT, "s3://b/k", ""],
  foo: [ABSENT, 1],
};

function plainWrite(): Record<string, unknown> {
  return {
    flowRunId: randomUUID(),
    slug: "work-1",
    mapIndex: 3,
    state: {
      schemaVersion: 1,
      type: "Running",
      timestamp: "2030-01-01T00:00:00.000Z",
      attempts: 1,
    },
    version: 0,
  };
}

function set(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value === ABSENT) delete target[key];
  else target[key] = value;
}

/** A small seeded generator (mulberry32), so that a failing body repeats. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every write with one field varied, then `count` with two or three fields varied. */
function* writes(count: number): Generator<Record<string, unknown>> {
  const fields = [
    ...Object.entries(WRITE_FIELDS).map(([k, v]) => ({ state: false, key: k, values: v })),
    ...Object.entries(STATE_FIELDS).map(([k, v]) => ({ state: true, key: k, values: v })),
  ];
  const vary = (w: Record<string, unknown>, f: (typeof fields)[number], value: unknown) => {
    if (!f.state) set(w, f.key, value);
    else if (typeof w.state === "object" && w.state !== null && !Array.isArray(w.state))
      set(w.state as Record<string, unknown>, f.key, value);
  };
  for (const f of fields) {
    for (const value of f.values) {
      const w = plainWrite();
      vary(w, f, value);
      yield w;
    }
  }
  const next = random(16);
  for (let i = 0; i < count; i++) {
    const w = plainWrite();
    const n = 2 + Math.floor(next() * 2);
    for (let j = 0; j < n; j++) {
      const f = fields[Math.floor(next() * fields.length)]!;
      vary(w, f, f.values[Math.floor(next() * f.values.length)]);
    }
    yield w;
  }
}

function compare(body: unknown): "quick" | "left to zod" {
  const quick = quickTaskRunStates(body);
  const zod = setTaskRunStatesRequestSchema.safeParse(body);
  if (quick === undefined) return "left to zod";
  assert.ok(zod.success, `accepted what zod refuses: ${JSON.stringify(body)}`);
  assert.equal(JSON.stringify(quick), JSON.stringify(zod.data), JSON.stringify(body));
  return "quick";
}

test("whatever the quick check accepts, the schema accepts with the same output", () => {
  const outcomes = { quick: 0, "left to zod": 0, refused: 0 };
  for (const w of writes(5000)) {
    const outcome = compare({ states: [w] });
    outcomes[outcome]++;
    if (!setTaskRunStatesRequestSchema.safeParse({ states: [w] }).success) outcomes.refused++;
    // Beside a plain write, and after it: one item decides for the body.
    compare({ states: [plainWrite(), w] });
  }
  // Both paths were taken, and every body zod refuses was left to it.
  assert.ok(outcomes.quick > 500, `accepted ${outcomes.quick}`);
  assert.ok(outcomes.refused > 1000, `refused ${outcomes.refused}`);
  assert.ok(outcomes["left to zod"] >= outcomes.refused);
});

test("the body itself: one `states` key holding 1 to MAX_TASK_RUN_WRITES writes", () => {
  const plain = plainWrite();
  assert.equal(compare({ states: [plain] }), "quick");
  for (const body of [
    null,
    [],
    "x",
    {},
    { states: [] },
    { states: "x" },
    { states: [plain], extra: 1 },
    { states: Array.from({ length: MAX_TASK_RUN_WRITES + 1 }, () => plain) },
    Object.assign(Object.create({ inherited: 1 }), { states: [plain] }),
  ]) {
    assert.equal(quickTaskRunStates(body), undefined, JSON.stringify(body));
  }
  const most = { states: Array.from({ length: MAX_TASK_RUN_WRITES }, () => plain) };
  assert.equal(compare(most), "quick");
});
