// Fan-out and fan-in with task.map: list `count` temperature sensors, read each
// one (one child task run per sensor), calibrate every reading with one shared
// offset (a map over a mapped result, the offset passed whole with unmapped()),
// then reduce everything to a summary.
//
//   node bin/weft.js run examples/map.ts --param count=12
//   node bin/weft.js run examples/map.ts --param count=1000 --executor worker-threads
//
// Task bodies are pure functions of their inputs, so they run the same on
// every executor, worker threads included.
import { context, flow, parameter, task, unmapped } from "weftflow";

/** One sensor's readings of the day, in °C. */
export interface Reading {
  readonly sensor: string;
  readonly celsius: readonly number[];
}

/** What the flow reports at the end. */
export interface Summary {
  readonly sensors: number;
  readonly readings: number;
  readonly meanCelsius: number;
  /** The highest reading and its sensor; undefined when there are no readings. */
  readonly hottest: { readonly sensor: string; readonly celsius: number } | undefined;
}

/** A small deterministic generator, so that every run (and every thread) sees the same data. */
function seeded(text: string): () => number {
  let h = 2166136261;
  for (const ch of text) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return () => {
    h = Math.imul(h ^ (h >>> 15), 2246822507) >>> 0;
    return (h % 10_000) / 10_000;
  };
}

const round1 = (x: number) => Math.round(x * 10) / 10;

const listSensors = task("list-sensors", (count: number) =>
  Array.from({ length: count }, (_, i) => `sensor-${String(i + 1).padStart(3, "0")}`),
);

// What every reading is off by today: computed once, then given whole to every child.
const loadCalibration = task("load-calibration", (day: string) => {
  const offset = round1(seeded(day)() * 2 - 1);
  context().logger.info(`calibration offset for ${day}: ${offset} °C`);
  return offset;
});

const readSensor = task(
  "read-sensor",
  (sensor: string, day: string): Reading => {
    const random = seeded(`${sensor}/${day}`);
    const base = 15 + random() * 10;
    return { sensor, celsius: Array.from({ length: 24 }, () => round1(base + random() * 4 - 2)) };
  },
  { retries: 1 },
);

const calibrate = task(
  "calibrate",
  (reading: Reading, offset: number): Reading => ({
    sensor: reading.sensor,
    celsius: reading.celsius.map((c) => round1(c - offset)),
  }),
);

const summarize = task("summarize", (readings: Reading[]): Summary => {
  const all = readings.flatMap((r) => r.celsius);
  let hottest: Summary["hottest"];
  for (const r of readings) {
    for (const c of r.celsius) {
      if (hottest === undefined || c > hottest.celsius) hottest = { sensor: r.sensor, celsius: c };
    }
  }
  const mean = all.length === 0 ? 0 : round1(all.reduce((a, b) => a + b, 0) / all.length);
  const peak = hottest === undefined ? "" : `, hottest ${hottest.sensor} at ${hottest.celsius} °C`;
  context().logger.info(
    `${readings.length} sensors, ${all.length} readings, mean ${mean} °C${peak}`,
  );
  return { sensors: readings.length, readings: all.length, meanCelsius: mean, hottest };
});

/** count sensors → read each (map) → calibrate each (map over the map) → summary (reduce). */
export const sensors = flow(
  "sensors",
  () => {
    const count = parameter("count", 12, {
      type: "integer",
      description: "how many sensors",
      // Refused before the run starts (exit 2), rather than failing a task.
      validate: (n) => n >= 0 || "expected 0 or more sensors",
    });
    const day = parameter("day", "2024-06-01", { description: "which day to read" });
    const ids = listSensors(count);
    const offset = loadCalibration(day);
    const raw = readSensor.map(ids, unmapped(day));
    const calibrated = calibrate.map(raw, unmapped(offset));
    return { summary: summarize(calibrated) };
  },
  { description: "Temperature sensors: fan out, calibrate, reduce" },
);
