import { State } from "../core/states.ts";

/** A task run that ended Failed (or TriggerFailed, TimedOut), as `--json` prints it. */
export interface FailedTask {
  readonly slug: string;
  readonly mapIndex?: number;
  readonly type: string;
  readonly message?: string;
}

/**
 * The failed task runs of a run, from its tasks' final states (a Mapped state's
 * children one by one) and, for runs heard from elsewhere, failed children by `slug[index]`.
 */
export function failedTasksOf(
  states: ReadonlyMap<string, State>,
  failedChildren?: ReadonlyMap<string, State>,
): FailedTask[] {
  const out: FailedTask[] = [];
  for (const [slug, state] of states) {
    if (state.children === undefined) {
      if (state.isFailed()) out.push(failedTask(slug, undefined, state.type, state.message));
      continue;
    }
    state.children.forEach((child, i) => {
      if (child.isFailed()) out.push(failedTask(slug, i, child.type, child.message));
    });
  }
  for (const [key, state] of failedChildren ?? []) {
    const m = /^(.*)\[(\d+)\]$/.exec(key);
    if (m !== null) out.push(failedTask(m[1]!, Number(m[2]), state.type, state.message));
  }
  return out;
}

/** The failed task runs of a remote run's task runs. */
export function failedTaskRunsOf(
  taskRuns: readonly {
    slug: string;
    mapIndex?: number | undefined;
    state: { type: string; message?: string | undefined };
  }[],
): FailedTask[] {
  return taskRuns
    .filter((t) => isFailedType(t.state.type))
    .map((t) => failedTask(t.slug, t.mapIndex, t.state.type, t.state.message));
}

function isFailedType(type: string): boolean {
  return type === "Failed" || type === "TriggerFailed" || type === "TimedOut";
}

function failedTask(
  slug: string,
  mapIndex: number | undefined,
  type: string,
  message: string | undefined,
): FailedTask {
  return {
    slug,
    ...(mapIndex === undefined ? {} : { mapIndex }),
    type,
    ...(message === undefined ? {} : { message }),
  };
}

/** `load-items-1` or `double-1[3]`. */
function labelOf(t: FailedTask): string {
  return t.mapIndex === undefined ? t.slug : `${t.slug}[${t.mapIndex}]`;
}

/** `1 task failed: load-items-1`, the first five named. */
export function describeFailed(failed: readonly FailedTask[]): string {
  const shown = failed.slice(0, 5).map(labelOf).join(", ") + (failed.length > 5 ? ", …" : "");
  return `${failed.length} ${failed.length === 1 ? "task" : "tasks"} failed: ${shown}`;
}

/**
 * The summary line of a run that succeeded by its reference tasks while other
 * tasks failed (undefined otherwise): the rule decides the state, but the
 * failures are never hidden.
 */
export function summaryOf(
  flowName: string,
  state: { type: string },
  failed: readonly FailedTask[],
  strict: boolean,
): string | undefined {
  if (failed.length === 0 || !new State(state.type as State["type"]).isSuccessful())
    return undefined;
  return strict
    ? `flow ${flowName}: Failed (--strict) — ${describeFailed(failed)}; the reference tasks succeeded\n`
    : `flow ${flowName}: ${state.type} (reference tasks) — ${describeFailed(failed)}\nhint: run with --strict (or give the flow strict: true) to fail the run when any task fails\n`;
}

/** With --strict, a successful run with failed tasks ends Failed (as the engine makes it in process). */
export function strictState(state: State, failed: readonly FailedTask[], strict: boolean): State {
  if (!strict || failed.length === 0 || !state.isSuccessful()) return state;
  return new State(
    "Failed",
    `strict: ${describeFailed(failed)} (the reference tasks succeeded)`,
    undefined,
    undefined,
    state.startedAt,
  );
}
