import type { FlowRunInfo, LogRecord, Reporter, TaskInfo } from "../../core/reporter.ts";
import type { State } from "../../core/states.ts";

/** Sends every event to each reporter in turn. */
export function teeReporter(...reporters: Reporter[]): Reporter {
  return {
    flowState: (run: FlowRunInfo, state: State) => {
      for (const r of reporters) r.flowState?.(run, state);
    },
    taskState: (run: FlowRunInfo, task: TaskInfo, mapIndex: number | undefined, state: State) => {
      for (const r of reporters) r.taskState?.(run, task, mapIndex, state);
    },
    log: (record: LogRecord) => {
      for (const r of reporters) r.log?.(record);
    },
    close: async () => {
      for (const r of reporters) await r.close?.();
    },
  };
}

/**
 * Keeps the last state of every task (not of mapped children) it hears, in the
 * order tasks first appeared: how a run executed elsewhere is shown here.
 */
export class StateCollector implements Reporter {
  readonly states = new Map<string, State>();
  /** Mapped children whose last state is a failure, by `slug[index]`. */
  readonly failedChildren = new Map<string, State>();

  taskState(_run: FlowRunInfo, task: TaskInfo, mapIndex: number | undefined, state: State): void {
    if (mapIndex === undefined) this.states.set(task.slug, state);
    else if (state.isFailed()) this.failedChildren.set(`${task.slug}[${mapIndex}]`, state);
    else if (state.isFinished()) this.failedChildren.delete(`${task.slug}[${mapIndex}]`);
  }
}
