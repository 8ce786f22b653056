import type { State } from "./states.ts";

/** Log levels, least to most severe. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where library code and tasks write their logs (weft never writes to the console itself). */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** One log line of a flow run. */
export interface LogRecord {
  readonly level: LogLevel;
  readonly message: string;
  /** ms since the epoch */
  readonly time: number;
  readonly flowRunId: string;
  readonly taskSlug?: string;
  readonly mapIndex?: number;
  readonly fields?: Record<string, unknown>;
}

/** The flow run a reporter hears about. */
export interface FlowRunInfo {
  readonly id: string;
  readonly flowName: string;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Number of task nodes in the flow (parameters included). */
  readonly taskCount: number;
}

/** A task (node) of the flow run, as a reporter sees it. */
export interface TaskInfo {
  readonly slug: string;
  readonly name: string;
  readonly mapped: boolean;
}

/**
 * Hears every state change of a flow run: the console reporter draws progress,
 * the API reporter sends batches to the server. Calls are synchronous and must
 * be cheap: a reporter buffers and does its I/O on its own time.
 */
export interface Reporter {
  flowState?(run: FlowRunInfo, state: State): void;
  /** `mapIndex` is undefined for a task that is not a mapped child. */
  taskState?(run: FlowRunInfo, task: TaskInfo, mapIndex: number | undefined, state: State): void;
  log?(record: LogRecord): void;
  /** Called once after the final flow state: flush what is buffered. */
  close?(): Promise<void> | void;
}

/** A logger that forwards records to a sink, with fixed run and task fields. */
export function createRunLogger(
  sink: ((record: LogRecord) => void) | undefined,
  flowRunId: string,
  taskSlug?: string,
  mapIndex?: number,
): Logger {
  const write = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) => {
    if (sink === undefined) return;
    sink({
      level,
      message,
      time: Date.now(),
      flowRunId,
      ...(taskSlug === undefined ? {} : { taskSlug }),
      ...(mapIndex === undefined ? {} : { mapIndex }),
      ...(fields === undefined ? {} : { fields }),
    });
  };
  return { debug: write("debug"), info: write("info"), warn: write("warn"), error: write("error") };
}
