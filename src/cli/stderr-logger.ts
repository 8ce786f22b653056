import type { Logger, LogLevel } from "../core/reporter.ts";

/** A logger for long-running commands: one line per record on stderr (time, level, message, fields). */
export function stderrLogger(stream: NodeJS.WritableStream, minLevel: LogLevel = "info"): Logger {
  const rank = { debug: 0, info: 1, warn: 2, error: 3 } as const;
  const write = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (rank[level] < rank[minLevel]) return;
    const extra = Object.entries(fields ?? {})
      .map(([key, value]) => ` ${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
      .join("");
    stream.write(`${new Date().toISOString()} ${level} ${message}${extra}\n`);
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}
