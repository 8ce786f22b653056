import { WeftError } from "./errors.ts";
import { activeBuilder, type Ref } from "./graph.ts";
import { Skip } from "./signals.ts";
import { makeTask } from "./task.ts";
import { DEFAULT_TASK_OPTIONS } from "./task-options.ts";

/**
 * Builds a conditional branch: the tasks made inside `build` run only when
 * `ref`'s result equals `value` (`Object.is`), and end Skipped otherwise
 * (skipping then flows downstream as usual). Returns what `build` returns.
 * @example
 * const big = when(isLarge, true, () => compress(file));
 * const small = when(isLarge, false, () => copy(file));
 * const out = merge(big, small);
 */
export function when<T, Out>(ref: Ref<T>, value: T, build: () => Out): Out {
  const builder = activeBuilder();
  if (builder === undefined) {
    throw new WeftError("TASK_OUTSIDE_FLOW", "when() was called outside a flow builder");
  }
  const shown = JSON.stringify(value) ?? String(value);
  const compare = makeTask(
    "when",
    "condition",
    (actual: unknown) => {
      if (Object.is(actual, value)) return actual;
      throw new Skip(
        `condition not met: ${JSON.stringify(actual) ?? String(actual)} is not ${shown}`,
      );
    },
    DEFAULT_TASK_OPTIONS,
  );
  const condition = compare(ref as Ref<unknown>);
  const start = builder.nodes.length;
  const out = build();
  for (let i = start; i < builder.nodes.length; i++) {
    const node = builder.nodes[i]!;
    // Only the branch's entry tasks need the condition: the rest inherit its skip.
    if (node.upstream.every((u) => u < start)) node.after(condition);
  }
  return out;
}

type RefValue<R> = R extends Ref<infer T> ? T : never;

const MERGE_OPTIONS = Object.freeze({ ...DEFAULT_TASK_OPTIONS, skipOnUpstreamSkip: false });

/**
 * Yields the result of the first reference (in argument order) whose task was
 * not skipped: the join point after {@link when} branches. Skipped when all were.
 */
export function merge<R extends Ref<unknown>[]>(...refs: R): Ref<RefValue<R[number]>> {
  if (activeBuilder() === undefined) {
    throw new WeftError("TASK_OUTSIDE_FLOW", "merge() was called outside a flow builder");
  }
  if (refs.length === 0)
    throw new WeftError("INVALID_ARGUMENT", "merge() needs at least one reference");
  const node = makeTask("merge", "merge", (...values: unknown[]) => values[0], MERGE_OPTIONS);
  return node(...refs) as Ref<RefValue<R[number]>>;
}
