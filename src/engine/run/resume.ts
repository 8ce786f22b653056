// Resuming a run: a task whose result an earlier run of the flow persisted is
// not run again; its result is read back, written under this run's id too (so
// that this run can be resumed in turn), and the task ends Success saying where
// the result came from. Anything that goes wrong on the way (the result is
// gone, unreadable, or the backend fails) means the task runs again, with a
// warning in the run's log: resuming is an optimisation and never fails a run.
//
// Only results persisted under the run's id can be found again, so a run can
// resume only when its result template has {flowRunId} (checkResumable).
import { WeftError } from "../../core/errors.ts";
import type { Flow, RunOptions } from "../../core/flow.ts";
import type { Ref } from "../../core/graph.ts";
import type { Reporter } from "../../core/reporter.ts";
import { type ResultBackend, renderResultLocation } from "../../core/results.ts";
import { State, toErrorData } from "../../core/states.ts";
import type { MaybePromise } from "../task-runner.ts";

/**
 * True when a run of `flow` can resume an earlier one: its results are
 * persisted under the run's id (a result backend whose template has {flowRunId}).
 */
export function canResume(flow: Flow<unknown>, result?: ResultBackend): boolean {
  const results = result ?? flow.options.result;
  return results?.template.includes("{flowRunId}") === true;
}

/** Throws RESULT_NOT_PERSISTED when `options.resume` asks for a resume that cannot find any result. */
export function checkResumable(flow: Flow<unknown>, options: RunOptions): void {
  if (options.resume === undefined) return;
  const results = options.result ?? flow.options.result;
  if (results === undefined || !results.template.includes("{flowRunId}")) {
    throw new WeftError(
      "RESULT_NOT_PERSISTED",
      `cannot resume run ${options.resume} of flow "${flow.name}": ${results === undefined ? "the flow has no result backend" : `its result template ${results.template} has no {flowRunId}`}`,
      {
        hint: "give the flow a result backend (flow option result, or --result-dir) so that runs persist their results",
      },
    );
  }
}

/** One resumed run's view of the earlier run's results. */
export class Resume {
  constructor(
    private readonly results: ResultBackend,
    private readonly flowName: string,
    /** The earlier run's id. */
    private readonly from: string,
    /** This run's id. */
    private readonly flowRunId: string,
    private readonly reporter: Reporter | undefined,
  ) {}

  /**
   * The task's result from the earlier run when it was persisted (read back,
   * and kept under this run's id too), else `run()`. A result that is gone or
   * unreadable means the task runs again, with a warning.
   */
  task(
    node: Ref<unknown>,
    mapIndex: number | undefined,
    run: () => MaybePromise<State>,
  ): MaybePromise<State> {
    const results = this.results;
    if (node.task.kind !== "task") return run();
    const where = {
      flowName: this.flowName,
      taskSlug: node.slug,
      taskName: node.task.name,
      mapIndex,
    };
    const earlier = renderResultLocation(results.template, { ...where, flowRunId: this.from });
    const startedAt = Date.now();
    return results
      .exists(earlier)
      .then(async (found) => {
        if (!found) return run();
        let value: unknown;
        try {
          value = await results.read(earlier);
        } catch (error) {
          this.warn(
            node,
            mapIndex,
            `the result of run ${this.from} at ${earlier} is unreadable, so the task runs again: ${toErrorData(error).message}`,
          );
          return run();
        }
        const location = await results.write(value, { ...where, flowRunId: this.flowRunId });
        return State.withResult(
          "Success",
          `resumed from run ${this.from} (result at ${earlier})`,
          value,
          startedAt,
          0,
          location,
        );
      })
      .catch((error: unknown) => {
        this.warn(
          node,
          mapIndex,
          `resuming from run ${this.from} failed, so the task runs again: ${toErrorData(error).message}`,
        );
        return run();
      });
  }

  private warn(node: Ref<unknown>, mapIndex: number | undefined, message: string): void {
    this.reporter?.log?.({
      level: "warn",
      message,
      time: Date.now(),
      flowRunId: this.flowRunId,
      taskSlug: node.slug,
      ...(mapIndex === undefined ? {} : { mapIndex }),
    });
  }
}
