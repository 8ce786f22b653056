// The time rules of a task run's attempts, apart from the task runner's flow: how long to
// wait before a retry (the task's `retryDelay`, a number or a function that may throw)
// and a soft timeout (the attempt is abandoned and its abort signal fires; in-process
// code cannot be stopped).
import type { Ref } from "../core/graph.ts";
import { State, toErrorData } from "../core/states.ts";
import { TaskTimeout } from "./executors/executor.ts";
import { failure, type TaskOutcome, type TaskRunContext } from "./task-host.ts";

/** The delay before retrying after failed `attempt` (0 when it is not a finite, positive number), or the Failed state when retryDelay threw. */
export function retryDelayOf(
  node: Ref<unknown>,
  attempt: number,
  startedAt: number,
): number | State {
  const options = node.task.options;
  let delay: number;
  try {
    delay =
      typeof options.retryDelay === "function"
        ? Number(options.retryDelay(attempt))
        : options.retryDelay;
  } catch (thrown) {
    const why = toErrorData(thrown);
    return new State(
      "Failed",
      `retryDelay of task ${node.task.name} threw: ${why.message}`,
      undefined,
      why,
      startedAt,
      attempt,
    );
  }
  return !Number.isFinite(delay) || delay < 0 ? 0 : delay;
}

/** Races an attempt against its timeout; on timeout the task is abandoned and its signal fires. */
export function withSoftTimeout(
  pending: PromiseLike<TaskOutcome>,
  ms: number,
  ctx: TaskRunContext,
): Promise<TaskOutcome> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      const error = new TaskTimeout(
        false,
        ms,
        "the task was abandoned and its abort signal fired; in-process code cannot be stopped (use the worker-threads executor for a hard timeout)",
      );
      ctx.abort(error);
      resolve(failure(error));
    }, ms);
    pending.then((outcome) => {
      clearTimeout(timer);
      resolve(outcome);
    });
  });
}
