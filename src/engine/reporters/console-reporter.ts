import {
  type FlowRunInfo,
  LOG_LEVELS,
  type LogLevel,
  type LogRecord,
  type Reporter,
  type TaskInfo,
} from "../../core/reporter.ts";
import type { State, StateType } from "../../core/states.ts";

/** Options of the console reporter. */
export interface ConsoleReporterOptions {
  /** Where progress and logs go. @default process.stderr */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Redraw one live progress line (TTY), or print plain lines. @default stream.isTTY */
  live?: boolean;
  /** Least severe task log level printed. @default "info" */
  logLevel?: LogLevel;
  /** Up to this many tasks, plain mode prints a line per finished task; above, only problems and periodic progress. @default 200 */
  lineLimit?: number;
  /** How often (ms) the progress line is redrawn, or printed in plain mode for big flows. @default 100 live, 2000 plain */
  interval?: number;
}

const LEVELS: readonly LogLevel[] = LOG_LEVELS;
const SHOWN: readonly StateType[] = [
  "Success",
  "Cached",
  "Mapped",
  "Skipped",
  "Failed",
  "TriggerFailed",
  "TimedOut",
  "Retrying",
  "Paused",
  "Cancelled",
];

/**
 * Shows a local flow run on a terminal: a live line with counts per state and
 * the elapsed time, or plain lines when the output is not a terminal. Cheap per
 * event: counting is all it does between redraws.
 */
export class ConsoleReporter implements Reporter {
  private readonly stream: NonNullable<ConsoleReporterOptions["stream"]>;
  private readonly live: boolean;
  private readonly minLevel: number;
  private readonly lineLimit: number;
  private readonly interval: number;
  private readonly counts = new Map<StateType, number>();
  private running = 0;
  private finished = 0;
  private started = 0;
  private timer: NodeJS.Timeout | undefined;
  private run: FlowRunInfo | undefined;
  private lineShown = false;
  private chatty = true;

  constructor(options: ConsoleReporterOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.live = options.live ?? this.stream.isTTY === true;
    this.minLevel = LEVELS.indexOf(options.logLevel ?? "info");
    this.lineLimit = options.lineLimit ?? 200;
    this.interval = options.interval ?? (this.live ? 100 : 2000);
  }

  flowState(run: FlowRunInfo, state: State): void {
    if (state.type === "Running") {
      this.run = run;
      this.started = state.timestamp;
      this.chatty = run.taskCount <= this.lineLimit;
      if (!this.live)
        this.print(`flow ${run.flowName} running (run ${run.id}, ${run.taskCount} tasks)`);
      if (this.live || !this.chatty) {
        this.timer = setInterval(() => this.progress(), this.interval);
        this.timer.unref();
      }
      return;
    }
    if (!state.isFinished() && state.type !== "Paused") return;
    clearInterval(this.timer);
    this.clearLine();
    this.print(
      `flow ${run.flowName} ${state.type}${state.message ? `: ${state.message}` : ""} in ${elapsed(state.timestamp - this.started)}`,
    );
  }

  taskState(_run: FlowRunInfo, task: TaskInfo, mapIndex: number | undefined, state: State): void {
    const type = state.type;
    if (type === "Running") {
      this.running++;
      return;
    }
    if (type === "Retrying") {
      this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
      this.print(`task ${label(task, mapIndex)} Retrying: ${state.message ?? ""}`);
      return;
    }
    if (!state.isFinished() && type !== "Paused") return;
    if (state.startedAt !== undefined && state.attempts > 0) this.running--;
    this.finished++;
    this.counts.set(type, (this.counts.get(type) ?? 0) + 1);
    const problem = state.isFailed() || type === "Paused";
    if (problem || (!this.live && this.chatty && mapIndex === undefined)) {
      const took = state.durationMs === undefined ? "" : ` (${elapsed(state.durationMs)})`;
      this.print(
        `task ${label(task, mapIndex)} ${type}${took}${state.message ? `: ${state.message}` : ""}`,
      );
    }
  }

  log(record: LogRecord): void {
    if (LEVELS.indexOf(record.level) < this.minLevel) return;
    const where =
      record.taskSlug === undefined
        ? ""
        : ` ${record.taskSlug}${record.mapIndex === undefined ? "" : `[${record.mapIndex}]`}`;
    const fields = record.fields === undefined ? "" : ` ${JSON.stringify(record.fields)}`;
    this.print(`${record.level}${where}: ${record.message}${fields}`);
  }

  close(): void {
    clearInterval(this.timer);
    this.clearLine();
  }

  /** The current counts, as the progress line shows them. */
  summary(): string {
    const parts = [`${this.finished.toLocaleString("en-US")} done`];
    if (this.running > 0) parts.push(`${this.running.toLocaleString("en-US")} running`);
    for (const type of SHOWN) {
      const n = this.counts.get(type);
      if (n) parts.push(`${type} ${n.toLocaleString("en-US")}`);
    }
    return parts.join(" · ");
  }

  private progress(): void {
    if (this.run === undefined) return;
    const line = `${this.run.flowName} ${this.summary()} · ${elapsed(Date.now() - this.started)}`;
    if (this.live) {
      const width = this.stream.columns ?? 120;
      this.stream.write(`\r\x1b[2K${line.slice(0, width - 1)}`);
      this.lineShown = true;
    } else {
      this.print(line);
    }
  }

  private clearLine(): void {
    if (this.lineShown) {
      this.stream.write("\r\x1b[2K");
      this.lineShown = false;
    }
  }

  private print(line: string): void {
    this.clearLine();
    this.stream.write(`${line}\n`);
  }
}

function label(task: TaskInfo, mapIndex: number | undefined): string {
  return mapIndex === undefined ? task.slug : `${task.slug}[${mapIndex}]`;
}

/** `850 ms`, `2.4 s`, `3 min 5 s`. */
export function elapsed(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
