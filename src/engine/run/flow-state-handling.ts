// A flow's state handlers (flow option onStateChange) over one run: Pending →
// Running when the walk starts, Running → the final state when it ends. They run
// in the flow-run process, awaited (a flow run changes state twice, so there is
// no fast path to keep); a handler that throws makes the state Failed, naming it.
import {
  createRunLogger,
  type FlowRunInfo,
  type Logger,
  type Reporter,
} from "../../core/reporter.ts";
import {
  applyStateHandlers,
  type StateHandler,
  type StateSubject,
} from "../../core/state-handlers.ts";
import type { State } from "../../core/states.ts";
import { PENDING } from "../task-run-extras.ts";

/** Hands each new flow-run state to the handlers and answers theirs. */
export interface FlowStateHandling {
  change(state: State): Promise<State>;
}

/** The handling of `handlers` for the run `info`, or undefined when there are none. */
export function flowStateHandling(
  handlers: readonly StateHandler[] | undefined,
  info: FlowRunInfo,
  reporter: Reporter | undefined,
): FlowStateHandling | undefined {
  if (handlers === undefined || handlers.length === 0) return undefined;
  let logger: Logger | undefined;
  const subject: StateSubject = Object.freeze({
    kind: "flow" as const,
    flowName: info.flowName,
    flowRunId: info.id,
    taskName: undefined,
    taskSlug: undefined,
    mapIndex: undefined,
    get logger(): Logger {
      logger ??= createRunLogger(reporter?.log?.bind(reporter), info.id);
      return logger;
    },
  });
  let last: State = PENDING;
  return {
    async change(state) {
      last = await applyStateHandlers(handlers, subject, last, state);
      return last;
    },
  };
}
