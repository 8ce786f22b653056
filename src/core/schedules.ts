import { Cron } from "croner";
import { WeftError } from "./errors.ts";

/** The kinds of schedule. */
export const SCHEDULE_TYPES = ["cron", "interval", "dates"] as const;
/** One of {@link SCHEDULE_TYPES}. */
export type ScheduleType = (typeof SCHEDULE_TYPES)[number];

/** A schedule as plain JSON (see the serialization schemas). */
export type ScheduleJSON =
  | { type: "cron"; expression: string; timezone: string; start?: string; end?: string }
  | { type: "interval"; every: number; start?: string; end?: string }
  | { type: "dates"; dates: string[] };

/** When a flow should run: answers the next event times after an instant. */
export interface Schedule {
  readonly type: ScheduleType;
  /** Up to `n` event times strictly after `after` (default: now), in order, within the bounds. */
  next(n: number, after?: Date): Date[];
  toJSON(): ScheduleJSON;
}

/** Bounds shared by cron and interval schedules. */
export interface ScheduleBounds {
  /** No event before this instant (for intervals, also the anchor events count from). */
  start?: Date | string;
  /** No event after this instant. */
  end?: Date | string;
}

function toDate(value: Date | string | undefined, what: string): Date | undefined {
  if (value === undefined) return undefined;
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new WeftError(
      "INVALID_FLOW_OPTIONS",
      `schedule ${what} is not a valid date: ${JSON.stringify(value)}`,
    );
  }
  return date;
}

function checkBounds(start: Date | undefined, end: Date | undefined): void {
  if (start !== undefined && end !== undefined && end.getTime() < start.getTime()) {
    throw new WeftError(
      "INVALID_FLOW_OPTIONS",
      `schedule end ${end.toISOString()} is before its start ${start.toISOString()}`,
    );
  }
}

function checkCount(n: number): void {
  if (!Number.isInteger(n) || n < 0)
    throw new WeftError("INVALID_ARGUMENT", `next(n): n must be a non-negative integer, got ${n}`);
}

class CronSchedule implements Schedule {
  readonly type = "cron";
  private readonly cron: Cron;

  constructor(
    readonly expression: string,
    readonly timezone: string,
    readonly start: Date | undefined,
    readonly end: Date | undefined,
  ) {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: timezone });
    } catch {
      throw new WeftError(
        "INVALID_FLOW_OPTIONS",
        `unknown time zone ${JSON.stringify(timezone)} in cron schedule "${expression}"`,
        {
          hint: 'use an IANA name such as "UTC" or "Europe/Paris"',
        },
      );
    }
    try {
      this.cron = new Cron(expression, { timezone, paused: true, mode: "5-part" });
    } catch (error) {
      throw new WeftError(
        "INVALID_FLOW_OPTIONS",
        `invalid cron expression ${JSON.stringify(expression)}: ${(error as Error).message}`,
        { hint: 'five fields: minute hour day-of-month month day-of-week, e.g. "0 6 * * 1-5"' },
      );
    }
    checkBounds(start, end);
  }

  next(n: number, after: Date = new Date()): Date[] {
    checkCount(n);
    const out: Date[] = [];
    let from = after;
    if (this.start !== undefined && this.start.getTime() > from.getTime())
      from = new Date(this.start.getTime() - 1);
    while (out.length < n) {
      const next = this.cron.nextRun(from);
      if (next === null || (this.end !== undefined && next.getTime() > this.end.getTime())) break;
      out.push(next);
      from = next;
    }
    return out;
  }

  toJSON(): ScheduleJSON {
    return {
      type: "cron",
      expression: this.expression,
      timezone: this.timezone,
      ...(this.start ? { start: this.start.toISOString() } : {}),
      ...(this.end ? { end: this.end.toISOString() } : {}),
    };
  }
}

class IntervalSchedule implements Schedule {
  readonly type = "interval";

  constructor(
    readonly every: number,
    readonly start: Date | undefined,
    readonly end: Date | undefined,
  ) {
    if (!Number.isFinite(every) || every < 1000) {
      throw new WeftError(
        "INVALID_FLOW_OPTIONS",
        `interval schedule: every must be at least 1000 ms, got ${every}`,
      );
    }
    checkBounds(start, end);
  }

  next(n: number, after: Date = new Date()): Date[] {
    checkCount(n);
    const anchor = this.start?.getTime() ?? 0;
    const t = after.getTime();
    // The first event strictly after `after`, counting whole intervals from the anchor.
    let k = t < anchor ? 0 : Math.floor((t - anchor) / this.every) + 1;
    const out: Date[] = [];
    while (out.length < n) {
      const at = anchor + k * this.every;
      if (this.end !== undefined && at > this.end.getTime()) break;
      out.push(new Date(at));
      k++;
    }
    return out;
  }

  toJSON(): ScheduleJSON {
    return {
      type: "interval",
      every: this.every,
      ...(this.start ? { start: this.start.toISOString() } : {}),
      ...(this.end ? { end: this.end.toISOString() } : {}),
    };
  }
}

class DatesSchedule implements Schedule {
  readonly type = "dates";
  private readonly times: readonly number[];

  constructor(dates: readonly Date[]) {
    this.times = [...new Set(dates.map((d) => d.getTime()))].sort((a, b) => a - b);
  }

  next(n: number, after: Date = new Date()): Date[] {
    checkCount(n);
    const t = after.getTime();
    return this.times
      .filter((x) => x > t)
      .slice(0, n)
      .map((x) => new Date(x));
  }

  toJSON(): ScheduleJSON {
    return { type: "dates", dates: this.times.map((x) => new Date(x).toISOString()) };
  }
}

/**
 * Runs on a cron expression (five fields), evaluated in a time zone, so that
 * "30 2 * * *" in "America/New_York" stays at 02:30 local time across DST
 * (on the spring-forward day it runs once, at 03:00; on the fall-back day once).
 * @example
 * flow("nightly", build, { schedule: cron("0 2 * * *", { timezone: "Europe/Paris" }) })
 */
export function cron(
  expression: string,
  options: ScheduleBounds & { timezone?: string } = {},
): Schedule {
  return new CronSchedule(
    expression,
    options.timezone ?? "UTC",
    toDate(options.start, "start"),
    toDate(options.end, "end"),
  );
}

/**
 * Runs every `everyMs` milliseconds, counted from `start` (default: the Unix epoch,
 * so an hourly interval falls on the hour).
 */
export function interval(everyMs: number, options: ScheduleBounds = {}): Schedule {
  return new IntervalSchedule(everyMs, toDate(options.start, "start"), toDate(options.end, "end"));
}

/** Runs at the given instants. */
export function dates(...instants: (Date | string)[]): Schedule {
  return new DatesSchedule(instants.map((d, i) => toDate(d, `date ${i}`)!));
}

/**
 * Builds a schedule from its JSON, already validated by the serialization schema.
 * Not named `scheduleFromJSON`: that is serialization's, which validates versioned JSON first.
 */
export function buildSchedule(json: ScheduleJSON): Schedule {
  switch (json.type) {
    case "cron":
      return cron(json.expression, { timezone: json.timezone, ...bounds(json) });
    case "interval":
      return interval(json.every, bounds(json));
    case "dates":
      return dates(...json.dates);
  }
}

function bounds(json: { start?: string; end?: string }): ScheduleBounds {
  return { ...(json.start ? { start: json.start } : {}), ...(json.end ? { end: json.end } : {}) };
}
