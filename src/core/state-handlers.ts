// State handlers (Prefect's state_handlers): functions a task or a flow is
// given as `onStateChange`, called on each of its state changes, in order. Each
// may return a state to put in place of the new one; the next handler sees the
// replacement. They run where the walk runs (the flow-run process, its main
// thread), whichever executor ran the task body, so they never cross threads.
//
// A handler is awaited only when it returns a promise: synchronous handlers
// cost no promise, and tasks without handlers never reach this module.
import type { Logger } from "./reporter.ts";
import { State, toErrorData } from "./states.ts";

/** Whose state changed: a task run (a mapped child has its index) or a flow run. */
export interface StateSubject {
  /** `"task"` for a task run or mapped child, `"flow"` for the flow run. */
  readonly kind: "task" | "flow";
  readonly flowName: string;
  readonly flowRunId: string;
  /** The task's name (tasks only). */
  readonly taskName: string | undefined;
  /** The task's slug, unique in its flow (tasks only). */
  readonly taskSlug: string | undefined;
  /** The child's index for a mapped task's child; undefined for a whole task or a flow. */
  readonly mapIndex: number | undefined;
  /** Logs attached to the task run (or the flow run). */
  readonly logger: Logger;
}

/** What a state handler may answer: a state to put in place of the new one, or nothing to keep it. */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler with a block body and no return is typed void; it must be accepted.
export type StateHandlerResult = State | undefined | void;

/**
 * Called on a state change of a task run or flow run: `oldState` → `newState`.
 * Return a {@link State} to replace `newState` (the next handler gets the
 * replacement), or nothing to keep it; a promise is awaited. A handler that
 * throws fails the task (or the flow), with a message naming it.
 * @example
 * const logFailures: StateHandler = (subject, _old, next) => {
 *   if (next.isFailed()) subject.logger.error(`${subject.taskSlug} failed: ${next.message}`);
 * };
 * task("load", load, { onStateChange: [logFailures] });
 */
export type StateHandler = (
  subject: StateSubject,
  oldState: State,
  newState: State,
) => StateHandlerResult | Promise<StateHandlerResult>;

/**
 * Runs `handlers` on `oldState` → `newState` in order and answers the state
 * that results: now when every handler answered synchronously, else a promise
 * (which never rejects). A handler that throws, rejects or answers something
 * other than a State ends the chain with a Failed state naming it.
 */
export function applyStateHandlers(
  handlers: readonly StateHandler[],
  subject: StateSubject,
  oldState: State,
  newState: State,
): State | Promise<State> {
  return step(handlers, 0, subject, oldState, newState);
}

function step(
  handlers: readonly StateHandler[],
  from: number,
  subject: StateSubject,
  oldState: State,
  newState: State,
): State | Promise<State> {
  let state = newState;
  for (let k = from; k < handlers.length; k++) {
    const handler = handlers[k]!;
    let out: unknown;
    try {
      out = handler(subject, oldState, state);
    } catch (error) {
      return handlerFailed(handler, k, subject, oldState, state, error);
    }
    if (isThenable(out)) {
      const current = state;
      return Promise.resolve(out).then(
        (answer) => {
          const next = accept(answer, handler, k, subject, oldState, current);
          return next.failedHandler
            ? next.state
            : step(handlers, k + 1, subject, oldState, next.state);
        },
        (error: unknown) => handlerFailed(handler, k, subject, oldState, current, error),
      );
    }
    const next = accept(out, handler, k, subject, oldState, state);
    if (next.failedHandler) return next.state;
    state = next.state;
  }
  return state;
}

function accept(
  answer: unknown,
  handler: StateHandler,
  k: number,
  subject: StateSubject,
  oldState: State,
  state: State,
): { state: State; failedHandler: boolean } {
  if (answer === undefined) return { state, failedHandler: false };
  if (answer instanceof State) return { state: answer, failedHandler: false };
  const got = answer === null ? "null" : typeof answer;
  const error = new TypeError(`it returned ${got}, not a State (return nothing to keep the state)`);
  return {
    state: handlerFailed(handler, k, subject, oldState, state, error),
    failedHandler: true,
  };
}

/** The label of handler `k` in messages: its function name, else its index. */
export function handlerLabel(handler: StateHandler, k: number): string {
  return handler.name ? `"${handler.name}"` : `#${k}`;
}

function handlerFailed(
  handler: StateHandler,
  k: number,
  subject: StateSubject,
  oldState: State,
  state: State,
  thrown: unknown,
): State {
  const cause = toErrorData(thrown);
  const owner =
    subject.kind === "flow"
      ? `flow "${subject.flowName}"`
      : `task ${subject.taskSlug}${subject.mapIndex === undefined ? "" : `[${subject.mapIndex}]`}`;
  const message = `state handler ${handlerLabel(handler, k)} of ${owner} threw on ${oldState.type} → ${state.type}: ${cause.message}`;
  return new State(
    "Failed",
    message,
    undefined,
    {
      type: "StateHandlerError",
      message,
      ...(cause.stack === undefined ? {} : { stack: cause.stack }),
    },
    state.startedAt ?? oldState.startedAt,
    state.attempts,
  );
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}
