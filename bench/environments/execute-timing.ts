// One run through an environment, timed from the moment `environment.execute()`
// is called: shared by the environment benchmark (subprocess-bench.ts) and the
// start-up benchmark (bench/startup), which times the subprocess environment's
// `weft execute` start against `node -e 0`.
import { randomUUID } from "node:crypto";
import type { State } from "../../src/core/states.ts";
import type { Environment } from "../../src/environments/environment.ts";
import type { Storage } from "../../src/storage/storage.ts";

/** What one timed execute took, in ms from the call. */
export interface ExecuteSample {
  /** The first task's Running state timestamp (taken where the task runs: in the child for subprocess). */
  readonly firstTaskMs: number;
  /** When this process's reporter heard that Running event. */
  readonly heardMs: number;
  /** The whole execute, to the final state (and the child's exit). */
  readonly totalMs: number;
}

/**
 * Executes `location` once through `environment` (with `home` as the run's
 * WEFT_HOME) and times it. Throws unless the run succeeds.
 */
export async function timeExecute(
  environment: Environment,
  storage: Storage,
  location: string,
  home: string,
): Promise<ExecuteSample> {
  let firstTask: number | undefined;
  let heard: number | undefined;
  const called = Date.now();
  const { state } = await environment.execute(storage, location, {
    flowRunId: randomUUID(),
    env: { WEFT_HOME: home },
    reporter: {
      taskState(_run, _task, _index, s: State) {
        if (firstTask === undefined && s.type === "Running") {
          firstTask = s.timestamp;
          heard = Date.now();
        }
      },
    },
  });
  const done = Date.now();
  if (state.type !== "Success" || firstTask === undefined || heard === undefined) {
    throw new Error(`the benchmark flow did not succeed: ${state.type} ${state.message ?? ""}`);
  }
  return { firstTaskMs: firstTask - called, heardMs: heard - called, totalMs: done - called };
}
