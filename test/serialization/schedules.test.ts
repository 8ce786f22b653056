// Schedules: cron (time zone, DST-safe), interval and explicit dates, their
// bounds, their refusals, and their versioned JSON.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cron, dates, interval, jsonSchemas, type Schedule } from "../../src/index.ts";
import { scheduleFromJSON, scheduleToJSON } from "../../src/serialization/index.ts";
import { expectCode } from "../storage/storage.case.ts";
import { checkJsonSchema } from "./json-schema-check.ts";

const at = (iso: string) => new Date(iso);
const isos = (ds: Date[]) => ds.map((d) => d.toISOString());
const scheduleSchema = (jsonSchemas() as Record<string, object>).schedule!;

/** toJSON → JSON text → fromJSON gives the same JSON and the same next events. */
function assertRoundTrip(schedule: Schedule, after: Date): void {
  const json = scheduleToJSON(schedule);
  assert.deepEqual(checkJsonSchema(scheduleSchema, JSON.parse(JSON.stringify(json))), []);
  const back = scheduleFromJSON(JSON.parse(JSON.stringify(json)));
  assert.deepEqual(scheduleToJSON(back), json);
  assert.deepEqual(isos(back.next(5, after)), isos(schedule.next(5, after)));
}

describe("cron schedules", () => {
  test("next(n, after) gives the next events in UTC by default, strictly after `after`", () => {
    const weekdays = cron("0 6 * * 1-5");
    assert.deepEqual(isos(weekdays.next(3, at("2026-01-02T00:00:00Z"))), [
      "2026-01-02T06:00:00.000Z",
      "2026-01-05T06:00:00.000Z",
      "2026-01-06T06:00:00.000Z",
    ]);
    // An event exactly at `after` is not "after" it.
    assert.deepEqual(isos(weekdays.next(1, at("2026-01-02T06:00:00Z"))), [
      "2026-01-05T06:00:00.000Z",
    ]);
    assert.deepEqual(weekdays.next(0, at("2026-01-02T00:00:00Z")), []);
  });

  test("start and end bound the events (both included)", () => {
    const daily = cron("0 0 * * *", { start: "2026-01-05T00:00:00Z", end: "2026-01-07T00:00:00Z" });
    assert.deepEqual(isos(daily.next(10, at("2026-01-01T00:00:00Z"))), [
      "2026-01-05T00:00:00.000Z",
      "2026-01-06T00:00:00.000Z",
      "2026-01-07T00:00:00.000Z",
    ]);
    assert.deepEqual(daily.next(3, at("2026-01-07T00:00:00Z")), []);
  });

  test("in a time zone: 06:00 Paris is 05:00Z in winter and 04:00Z in summer", () => {
    const paris = cron("0 6 * * *", { timezone: "Europe/Paris" });
    assert.deepEqual(isos(paris.next(1, at("2026-01-10T00:00:00Z"))), ["2026-01-10T05:00:00.000Z"]);
    assert.deepEqual(isos(paris.next(1, at("2026-07-10T00:00:00Z"))), ["2026-07-10T04:00:00.000Z"]);
  });

  test("DST spring forward (America/New_York, 2026-03-08): 02:30 does not exist, so it runs once at 03:00 local", () => {
    const nightly = cron("30 2 * * *", { timezone: "America/New_York" });
    assert.deepEqual(isos(nightly.next(3, at("2026-03-07T12:00:00Z"))), [
      "2026-03-08T07:00:00.000Z", // 03:00 EDT
      "2026-03-09T06:30:00.000Z", // 02:30 EDT
      "2026-03-10T06:30:00.000Z",
    ]);
  });

  test("DST fall back (America/New_York, 2026-11-01): 01:30 happens twice, the run happens once, at the first", () => {
    const nightly = cron("30 1 * * *", { timezone: "America/New_York" });
    assert.deepEqual(isos(nightly.next(3, at("2026-10-31T12:00:00Z"))), [
      "2026-11-01T05:30:00.000Z", // 01:30 EDT (the first 01:30)
      "2026-11-02T06:30:00.000Z", // 01:30 EST
      "2026-11-03T06:30:00.000Z",
    ]);
  });

  test("DST fall back: an hourly schedule runs at both 01:00 instants", () => {
    const hourly = cron("0 * * * *", { timezone: "America/New_York" });
    assert.deepEqual(isos(hourly.next(4, at("2026-11-01T04:30:00Z"))), [
      "2026-11-01T05:00:00.000Z", // 01:00 EDT
      "2026-11-01T06:00:00.000Z", // 01:00 EST
      "2026-11-01T07:00:00.000Z", // 02:00 EST
      "2026-11-01T08:00:00.000Z",
    ]);
  });

  test("an invalid cron expression is refused with a clear error", async () => {
    for (const [expression, why] of [
      ["61 * * * *", /minute/],
      ["* * *", /five/],
      ["0 * * * * *", /5 parts|five/],
      ["every day", /every day/],
    ] as const) {
      const error = await expectCode(() => cron(expression), "INVALID_FLOW_OPTIONS", expression);
      assert.ok(error.message.includes(JSON.stringify(expression)), error.message);
      assert.match(`${error.message} ${error.hint}`, why);
      assert.match(error.hint ?? "", /minute hour day-of-month month day-of-week/);
    }
  });

  test("an unknown time zone is refused, naming it", async () => {
    const error = await expectCode(
      () => cron("0 6 * * *", { timezone: "Mars/Olympus_Mons" }),
      "INVALID_FLOW_OPTIONS",
      "time zone",
    );
    assert.match(error.message, /unknown time zone "Mars\/Olympus_Mons"/);
    assert.match(error.hint ?? "", /IANA/);
  });

  test("an end before the start, or a date that is not one, is refused", async () => {
    await expectCode(
      () => cron("0 6 * * *", { start: "2026-02-01T00:00:00Z", end: "2026-01-01T00:00:00Z" }),
      "INVALID_FLOW_OPTIONS",
      "end < start",
    );
    await expectCode(() => cron("0 6 * * *", { start: "soon" }), "INVALID_FLOW_OPTIONS", "start");
    await expectCode(() => cron("0 6 * * *").next(-1), "INVALID_ARGUMENT", "n = -1");
    await expectCode(() => cron("0 6 * * *").next(1.5), "INVALID_ARGUMENT", "n = 1.5");
  });
});

describe("interval schedules", () => {
  test("counts whole intervals from the epoch by default (an hourly interval falls on the hour)", () => {
    const hourly = interval(3_600_000);
    assert.deepEqual(isos(hourly.next(2, at("2026-01-01T00:30:00Z"))), [
      "2026-01-01T01:00:00.000Z",
      "2026-01-01T02:00:00.000Z",
    ]);
  });

  test("counts from start, never before it, and stops at end", () => {
    const everyMinute = interval(60_000, {
      start: "2026-01-01T00:00:30Z",
      end: "2026-01-01T00:03:30Z",
    });
    assert.deepEqual(isos(everyMinute.next(10, at("2025-12-31T00:00:00Z"))), [
      "2026-01-01T00:00:30.000Z",
      "2026-01-01T00:01:30.000Z",
      "2026-01-01T00:02:30.000Z",
      "2026-01-01T00:03:30.000Z",
    ]);
    assert.deepEqual(isos(everyMinute.next(10, at("2026-01-01T00:02:30Z"))), [
      "2026-01-01T00:03:30.000Z",
    ]);
  });

  test("less than a second is refused", async () => {
    await expectCode(() => interval(999), "INVALID_FLOW_OPTIONS", "999 ms");
    await expectCode(() => interval(Number.NaN), "INVALID_FLOW_OPTIONS", "NaN");
  });
});

describe("date schedules", () => {
  test("gives the dates after `after`, sorted and without duplicates", () => {
    const some = dates("2026-01-02T00:00:00Z", at("2026-01-01T00:00:00Z"), "2026-01-02T00:00:00Z");
    assert.deepEqual(isos(some.next(5, at("2025-01-01T00:00:00Z"))), [
      "2026-01-01T00:00:00.000Z",
      "2026-01-02T00:00:00.000Z",
    ]);
    assert.deepEqual(isos(some.next(5, at("2026-01-01T00:00:00Z"))), ["2026-01-02T00:00:00.000Z"]);
  });

  test("a date that is not one is refused", async () => {
    await expectCode(() => dates("2026-13-45"), "INVALID_FLOW_OPTIONS", "bad date");
  });
});

describe("scheduleToJSON / scheduleFromJSON", () => {
  const after = at("2026-10-31T12:00:00Z");

  test("every kind round-trips, bounds and time zone included", () => {
    assertRoundTrip(cron("30 1 * * *", { timezone: "America/New_York" }), after);
    assertRoundTrip(
      cron("*/15 9-17 * * 1-5", {
        timezone: "Asia/Kolkata",
        start: "2026-11-02T00:00:00Z",
        end: "2026-12-01T00:00:00Z",
      }),
      after,
    );
    assertRoundTrip(interval(90_000, { start: "2026-11-01T00:00:00Z" }), after);
    assertRoundTrip(dates("2026-11-05T10:00:00Z", "2026-11-01T10:00:00Z"), after);
    assert.deepEqual(scheduleToJSON(interval(5_000)), {
      schemaVersion: 1,
      type: "interval",
      every: 5_000,
    });
  });

  test("malformed JSON is refused naming the field; a newer version is refused", async () => {
    const missing = await expectCode(
      () => scheduleFromJSON({ schemaVersion: 1, type: "cron", expression: "0 6 * * *" }),
      "INVALID_SERIALIZED",
      "no timezone",
    );
    assert.match(missing.message, /schedule\.timezone/);
    const tooShort = await expectCode(
      () => scheduleFromJSON({ schemaVersion: 1, type: "interval", every: 10 }),
      "INVALID_SERIALIZED",
      "every 10",
    );
    assert.match(tooShort.message, /schedule\.every/);
    await expectCode(
      () => scheduleFromJSON({ schemaVersion: 1, type: "weekly" }),
      "INVALID_SERIALIZED",
      "unknown type",
    );
    await expectCode(
      () => scheduleFromJSON({ schemaVersion: 2, type: "dates", dates: [] }),
      "SCHEMA_VERSION_UNSUPPORTED",
      "v2",
    );
  });

  test("an invalid cron expression or time zone in JSON is refused with a clear error", async () => {
    const bad = await expectCode(
      () =>
        scheduleFromJSON({
          schemaVersion: 1,
          type: "cron",
          expression: "0 25 * * *",
          timezone: "UTC",
        }),
      "INVALID_FLOW_OPTIONS",
      "hour 25",
    );
    assert.match(bad.message, /"0 25 \* \* \*"/);
    await expectCode(
      () =>
        scheduleFromJSON({
          schemaVersion: 1,
          type: "cron",
          expression: "0 1 * * *",
          timezone: "Nowhere/City",
        }),
      "INVALID_FLOW_OPTIONS",
      "time zone",
    );
  });
});
