// The target step of a task run (Prefect's `target`): a task whose rendered target exists in the
// result backend ends Cached from it without running; otherwise it runs (through the cache, when
// it has one) and its result is written at the target. TaskRunner calls it before the cache.
import type { Ref } from "../core/graph.ts";
import { State, toErrorData } from "../core/states.ts";
import { renderTarget } from "../core/targets.ts";
import type { RunScope } from "./task-host.ts";

type MaybePromise<T> = T | Promise<T>;

/**
 * Runs `node` (child `mapIndex`) against its target: `run` is the rest of the task run (cache,
 * then the body). runFlow checked that the run has a result backend.
 */
export function runToTarget(
  scope: RunScope,
  node: Ref<unknown>,
  mapIndex: number | undefined,
  startedAt: number,
  run: () => MaybePromise<State>,
): MaybePromise<State> {
  const results = scope.results!;
  let location: string;
  try {
    location = renderTarget(node.task.options.target!, {
      flowName: scope.info.flowName,
      flowRunId: scope.info.id,
      taskName: node.task.name,
      taskSlug: node.slug,
      mapIndex,
      parameters: scope.info.parameters,
      date: new Date(startedAt),
    });
  } catch (error) {
    const data = toErrorData(error);
    return new State(
      "Failed",
      `cannot render the target: ${data.message}`,
      undefined,
      data,
      startedAt,
      0,
    );
  }
  const failed = (doing: string) => (error: unknown) => {
    const data = toErrorData(error);
    return new State(
      "Failed",
      `${doing} the target ${location}: ${data.message}`,
      undefined,
      data,
      startedAt,
      0,
    );
  };
  return results.exists(location).then(async (found) => {
    if (found) {
      let value: unknown;
      try {
        value = await results.read(location);
      } catch (error) {
        return failed("cannot read")(error);
      }
      return State.withResult(
        "Cached",
        `target ${location} exists: the task did not run`,
        value,
        startedAt,
        0,
        location,
      );
    }
    const state = await run();
    if (state.type !== "Success") return state;
    return results.write(state.result, location).then(
      (written) =>
        State.withResult(
          "Success",
          state.message,
          state.result,
          startedAt,
          state.attempts,
          written,
        ),
      (error: unknown) => {
        const data = toErrorData(error);
        return new State(
          "Failed",
          `the result could not be written at the target ${location}: ${data.message}${data.hint === undefined ? "" : ` (${data.hint})`}`,
          undefined,
          data,
          startedAt,
          state.attempts,
        );
      },
    );
  }, failed("cannot check"));
}
