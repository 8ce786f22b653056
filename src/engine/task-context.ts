import type { TaskContext } from "../core/context.ts";
import type { Ref } from "../core/graph.ts";
import {
  createRunLogger,
  type FlowRunInfo,
  type Logger,
  type LogRecord,
} from "../core/reporter.ts";
import type { ResultBackend } from "../core/results.ts";

/** What every task run of one flow run shares. */
export interface RunScope {
  readonly info: FlowRunInfo;
  /** Aborts when the flow run is cancelled. */
  readonly signal: AbortSignal;
  /** Where task logs go (the reporter), if anywhere. */
  readonly logSink: ((record: LogRecord) => void) | undefined;
  /** Where results are persisted, if anywhere. */
  readonly results: ResultBackend | undefined;
}

/**
 * The context of one attempt of one task run. The abort signal and logger are
 * made on first use, so a task that never touches them costs one small object.
 */
export class TaskRunContext implements TaskContext {
  private controller: AbortController | undefined;
  private abortReason: unknown;
  private aborted = false;
  private cachedLogger: Logger | undefined;
  private cachedSignal: AbortSignal | undefined;

  constructor(
    readonly scope: RunScope,
    readonly node: Ref<unknown>,
    readonly mapIndex: number | undefined,
    readonly attempt: number,
  ) {}

  get flowRunId(): string {
    return this.scope.info.id;
  }
  get flowName(): string {
    return this.scope.info.flowName;
  }
  get taskSlug(): string {
    return this.node.slug;
  }
  get taskName(): string {
    return this.node.task.name;
  }
  get parameters(): Readonly<Record<string, unknown>> {
    return this.scope.info.parameters;
  }
  get logger(): Logger {
    this.cachedLogger ??= createRunLogger(
      this.scope.logSink,
      this.scope.info.id,
      this.node.slug,
      this.mapIndex,
    );
    return this.cachedLogger;
  }
  get signal(): AbortSignal {
    if (this.cachedSignal === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.abortReason);
      this.cachedSignal = AbortSignal.any([this.controller.signal, this.scope.signal]);
    }
    return this.cachedSignal;
  }

  /** Fires this attempt's signal (timeout). */
  abort(reason: unknown): void {
    this.aborted = true;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}
