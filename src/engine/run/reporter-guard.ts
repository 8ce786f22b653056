import type { RunOptions } from "../../core/flow.ts";
import type { Reporter } from "../../core/reporter.ts";
import { toErrorData } from "../../core/states.ts";

/** Reporter errors must not break a run: the first one is logged, the reporter is then skipped. */
export function guardReporter(reporter: Reporter, options: RunOptions): Reporter {
  let broken = false;
  const guard =
    <A extends unknown[]>(name: string, fn: ((...args: A) => void) | undefined) =>
    (...args: A) => {
      if (broken || fn === undefined) return;
      try {
        fn.apply(reporter, args);
      } catch (error) {
        broken = true;
        options.logger?.error(
          `reporter.${name} threw; the reporter is disabled for this run: ${toErrorData(error).message}`,
        );
      }
    };
  const guarded: Reporter = {};
  if (reporter.flowState) guarded.flowState = guard("flowState", reporter.flowState);
  if (reporter.taskState) guarded.taskState = guard("taskState", reporter.taskState);
  if (reporter.log) guarded.log = guard("log", reporter.log);
  if (reporter.close) {
    guarded.close = async () => {
      try {
        await reporter.close?.();
      } catch (error) {
        options.logger?.error(`reporter.close threw: ${toErrorData(error).message}`);
      }
    };
  }
  return guarded;
}
