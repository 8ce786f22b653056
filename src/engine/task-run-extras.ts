// What one task run carries between its attempts when it needs more than the
// task runner's fast path: its loop iteration (a body that threw Loop), the
// re-runs it asked for (Loop, Retry; bounded by maxLoops), and its state
// handlers with the last state they saw. The task runner makes a RunExtras
// only for a task with handlers (when the run starts) or on its first Loop or
// Retry; every other task run passes `undefined` and allocates nothing here.
import type { Ref } from "../core/graph.ts";
import { createRunLogger, type Logger } from "../core/reporter.ts";
import {
  applyStateHandlers,
  type StateHandler,
  type StateSubject,
} from "../core/state-handlers.ts";
import { State } from "../core/states.ts";
import type { RunScope } from "./task-host.ts";

/** The state a task run is in before its first transition, as handlers see it. */
export const PENDING: State = Object.freeze(new State("Pending")) as State;

/** One task run's loop, forced retries and state handlers (see the top of this file). */
export class RunExtras {
  /** The iteration the next attempt runs (1 until the body throws Loop). */
  loopCount = 1;
  /** What the last Loop carried. */
  loopResult: unknown = undefined;
  /** Re-runs the body asked for (Loop, Retry), bounded by the task's maxLoops. */
  reruns = 0;
  /** Retries forced by Retry: they do not use up the task's `retries`. */
  forced = 0;
  /** The last state the handlers answered (their next call's old state). */
  last: State = PENDING;
  /** A handler ended the run (its answer was the final state): no further handling. */
  ended = false;

  constructor(
    readonly handlers: readonly StateHandler[] | undefined,
    readonly subject: StateSubject | undefined,
  ) {}
}

/** A task run as its state handlers see it: a few read-only fields, the logger made on use. */
export class TaskSubject implements StateSubject {
  readonly kind = "task";
  private cachedLogger: Logger | undefined;

  constructor(
    private readonly scope: RunScope,
    private readonly node: Ref<unknown>,
    readonly mapIndex: number | undefined,
  ) {}

  get flowName(): string {
    return this.scope.info.flowName;
  }
  get flowRunId(): string {
    return this.scope.info.id;
  }
  get taskName(): string {
    return this.node.task.name;
  }
  get taskSlug(): string {
    return this.node.slug;
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
}

/**
 * `x`'s handlers on its last state → `state`: their answer (now, or a promise
 * when a handler returned one), which becomes the last state; `report` hears it.
 */
export function handleStates(
  x: RunExtras,
  state: State,
  report: ((state: State) => void) | undefined,
): State | Promise<State> {
  const handlers = x.handlers;
  if (handlers === undefined) {
    report?.(state);
    return state;
  }
  return then(applyStateHandlers(handlers, x.subject!, x.last, state), (answer) => {
    x.last = answer;
    report?.(answer);
    return answer;
  });
}

/** `f(value)` now for a value, after it settles for a promise (no promise made for a value). */
export function then<T, U>(value: T | Promise<T>, f: (value: T) => U | Promise<U>): U | Promise<U> {
  return value instanceof Promise ? value.then(f) : f(value);
}
