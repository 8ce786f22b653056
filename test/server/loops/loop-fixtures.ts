// A logger that keeps what it is told, and a clock tests move by hand.
import type { Logger } from "../../../src/core/reporter.ts";

/** A logger keeping its lines, for assertions. */
export function recordingLogger(): Logger & { lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: string) => {
    lines.push({ level, message });
  };
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

/** A clock standing at `start` until moved. */
export function manualClock(start: string | number): {
  now: () => Date;
  advance: (ms: number) => void;
} {
  let t = typeof start === "string" ? Date.parse(start) : start;
  return {
    now: () => new Date(t),
    advance(ms) {
      t += ms;
    },
  };
}
