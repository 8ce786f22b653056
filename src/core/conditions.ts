// Branching inside a flow builder: when, ifElse, switchOn attach the tasks a
// builder function makes to a condition node, which ends Skipped when the
// condition does not hold (the skip then flows down the branch); merge joins
// branches. A condition on a mapped reference is mapped too: it branches child
// by child (child i of the branch runs when child i of the condition matched),
// and merge of mapped branches merges child by child (engine/run/mapped-branches.ts).
import { WeftError } from "./errors.ts";
import { activeBuilder, type GraphBuilder, type Ref } from "./graph.ts";
import { Skip } from "./signals.ts";
import { makeTask } from "./task.ts";
import { DEFAULT_TASK_OPTIONS } from "./task-options.ts";

/**
 * Builds a conditional branch: the tasks made inside `build` run only when
 * `ref`'s result equals `value`, and end Skipped otherwise (skipping then flows
 * downstream as usual). Returns what `build` returns. Values are compared with
 * {@link structuralEqual}: plain arrays, plain objects and dates by content,
 * anything else with `Object.is`. On a mapped reference (`t.map(…)`) the
 * branch is taken child by child: its entry tasks must be mapped too, and child
 * i runs only when child i of `ref` equals `value`.
 * @example
 * const big = when(isLarge, true, () => compress(file));
 * const small = when(isLarge, false, () => copy(file));
 * const out = merge(big, small);
 */
export function when<T, Out>(ref: Ref<T>, value: NoInfer<T | ItemOf<T>>, build: () => Out): Out {
  const shown = show(value);
  return branch(
    "when",
    "when()",
    ref as Ref<unknown>,
    (actual) => structuralEqual(actual, value),
    (actual) => `${show(actual)} is not ${shown}`,
    build,
  );
}

/**
 * Two branches on one condition, as Prefect's `ifelse`: the tasks made by
 * `onTrue` run when `condition`'s result is truthy, those made by `onFalse`
 * when it is falsy; the other branch ends Skipped. Returns what each builder
 * returned, to {@link merge}. On a mapped condition it branches child by child.
 * @example
 * const [big, small] = ifElse(isLarge(size), () => compress(size), () => copy(size));
 * const out = merge(big, small);
 */
export function ifElse<A, B>(condition: Ref<unknown>, onTrue: () => A, onFalse: () => B): [A, B] {
  const a = branch(
    "if",
    "ifElse()",
    condition,
    (actual) => Boolean(actual),
    (actual) => `${show(actual)} is not truthy`,
    onTrue,
  );
  const b = branch(
    "else",
    "ifElse()",
    condition,
    (actual) => !actual,
    (actual) => `${show(actual)} is truthy`,
    onFalse,
  );
  return [a, b];
}

/** The item type of an array (what one child of a mapped reference holds); never for others. */
type ItemOf<T> = T extends readonly (infer E)[] ? E : never;

/** The values {@link switchOn} can branch on (compared by their text, as object keys are). */
export type SwitchValue = string | number | boolean | bigint | null | undefined;

/** What a case of a reference to `T` is keyed by: the value's text (a child's, for a mapped reference). */
type CaseKey<T> = CaseKeyOf<T extends readonly (infer E)[] ? E : T>;
type CaseKeyOf<V> = V extends SwitchValue ? `${V}` | (V extends number ? V : never) : never;

/** The cases of {@link switchOn} on a reference to `T`: a builder per value, keyed by the value's text. */
export type SwitchCases<T> = { readonly [K in CaseKey<T>]?: () => unknown };

/** What {@link switchOn} returns: what each case's builder returned, by case. */
export type SwitchOutputs<C> = {
  -readonly [K in keyof C]: C[K] extends () => infer O ? O : never;
};

/**
 * One branch per value, as Prefect's `switch`: the tasks made by
 * `cases[String(value)]` run when `ref`'s result is that value; every other
 * case's tasks end Skipped (all of them when no case matches). Returns what
 * each case's builder returned, by case, to {@link merge}. On a mapped
 * reference it branches child by child.
 * @example
 * const out = switchOn(format, {
 *   csv: () => parseCsv(file),
 *   json: () => parseJson(file),
 * });
 * const rows = merge(out.csv, out.json);
 */
export function switchOn<T, C extends SwitchCases<T>>(
  ref: Ref<T>,
  cases: C & Record<Exclude<keyof C, CaseKey<T>>, never>,
): SwitchOutputs<C> {
  const keys = Object.keys(cases);
  if (keys.length === 0) {
    throw new WeftError("INVALID_ARGUMENT", "switchOn() needs at least one case", {
      hint: "switchOn(ref, { a: () => …, b: () => … })",
    });
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const build = (cases as Record<string, unknown>)[key];
    if (typeof build !== "function") {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `switchOn(): case ${JSON.stringify(key)} must be a function that builds the branch, got ${typeof build}`,
      );
    }
    out[key] = branch(
      "case",
      "switchOn()",
      ref as Ref<unknown>,
      (actual) => isSwitchValue(actual) && String(actual) === key,
      (actual) => `${show(actual)} is not ${key}`,
      build as () => unknown,
    );
  }
  return out as SwitchOutputs<C>;
}

function isSwitchValue(value: unknown): boolean {
  return value === null || (typeof value !== "object" && typeof value !== "function");
}

/**
 * Adds a condition node on `ref` (mapped when `ref` is) and makes it an
 * upstream of the entry tasks of what `build` adds: the rest of the branch
 * inherits its skip.
 */
function branch<Out>(
  name: string,
  where: string,
  ref: Ref<unknown>,
  holds: (actual: unknown) => boolean,
  miss: (actual: unknown) => string,
  build: () => Out,
): Out {
  const builder: GraphBuilder = requireBuilder(where);
  builder.checkRef(ref, where);
  const compare = makeTask(
    name,
    "condition",
    (actual: unknown) => {
      if (holds(actual)) return actual;
      throw new Skip(`condition not met: ${miss(actual)}`);
    },
    DEFAULT_TASK_OPTIONS,
  );
  const condition = ref.mapped ? compare.map(ref as Ref<unknown[]>) : compare(ref);
  const start = builder.nodes.length;
  const out = build();
  for (let i = start; i < builder.nodes.length; i++) {
    const node = builder.nodes[i]!;
    // Only the branch's entry tasks need the condition: the rest inherit its skip.
    // A parameter declared in the branch is no task of it: it never waits.
    if (node.task.kind === "parameter") continue;
    if (!node.upstream.every((u) => u < start || builder.nodes[u]!.task.kind === "parameter"))
      continue;
    if (condition.mapped && !node.mapped) {
      throw new WeftError(
        "INVALID_ARGUMENT",
        `${where} on the mapped task ${ref.slug} branches child by child, but ${node.slug} in the branch is not mapped`,
        {
          hint: `map the branch's first tasks over the same items (${node.name}.map(…)), or branch on an unmapped reference`,
        },
      );
    }
    node.after(condition);
  }
  return out;
}

function requireBuilder(where: string): GraphBuilder {
  const builder = activeBuilder();
  if (builder === undefined) {
    throw new WeftError("TASK_OUTSIDE_FLOW", `${where} was called outside a flow builder`);
  }
  return builder;
}

function show(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** Deeper than this, two distinct values are never equal (cycles end here too). */
const MAX_EQUAL_DEPTH = 100;

/**
 * Structural equality for plain data, what conditions compare with: arrays
 * (same length, equal items), plain objects (same own keys, equal values) and
 * dates (same time) by content; anything else (primitives, class instances,
 * maps, functions) with `Object.is`, so `NaN` equals `NaN` and `-0` is not `0`.
 * @example
 * structuralEqual([1, { a: 2 }], [1, { a: 2 }]) // true
 */
export function structuralEqual(a: unknown, b: unknown): boolean {
  return equalAt(a, b, 0);
}

function equalAt(a: unknown, b: unknown, depth: number): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (depth >= MAX_EQUAL_DEPTH) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equalAt(a[i], b[i], depth + 1)) return false;
    return true;
  }
  const dateA = a instanceof Date;
  if (dateA || b instanceof Date) {
    return dateA && b instanceof Date && Object.is(a.getTime(), b.getTime());
  }
  if (!isPlainObject(a) || !isPlainObject(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const key of keys) {
    if (!Object.hasOwn(b, key)) return false;
    if (
      !equalAt((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], depth + 1)
    )
      return false;
  }
  return true;
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

type RefValue<R> = R extends Ref<infer T> ? T : never;

const MERGE_OPTIONS = Object.freeze({ ...DEFAULT_TASK_OPTIONS, skipOnUpstreamSkip: false });

/**
 * Yields the result of the first reference (in argument order) whose task was
 * not skipped: the join point after {@link when} branches. Skipped when all were.
 * Mapped branches (`t.map(…)`) merge child by child: child i of the merge takes
 * child i of the first branch whose child i was not skipped. Mapped and
 * unmapped branches cannot be merged together.
 */
export function merge<R extends Ref<unknown>[]>(...refs: R): Ref<RefValue<R[number]>> {
  const builder: GraphBuilder = requireBuilder("merge()");
  if (refs.length === 0)
    throw new WeftError("INVALID_ARGUMENT", "merge() needs at least one reference");
  for (const ref of refs) builder.checkRef(ref, "merge()");
  const mapped = refs.filter((ref) => ref.mapped);
  if (mapped.length > 0 && mapped.length < refs.length) {
    const unmappedSlugs = refs.filter((ref) => !ref.mapped).map((ref) => ref.slug);
    throw new WeftError(
      "INVALID_ARGUMENT",
      `merge(${refs.map((ref) => ref.slug).join(", ")}): ${mapped.map((ref) => ref.slug).join(", ")} ${mapped.length === 1 ? "is" : "are"} mapped but ${unmappedSlugs.join(", ")} ${unmappedSlugs.length === 1 ? "is" : "are"} not, so the branches cannot be merged child by child`,
      { hint: "merge mapped branches with mapped branches (each built with t.map(…))" },
    );
  }
  const node = makeTask("merge", "merge", (...values: unknown[]) => values[0], MERGE_OPTIONS);
  return (mapped.length > 0 ? node.map(...(refs as Ref<unknown[]>[])) : node(...refs)) as Ref<
    RefValue<R[number]>
  >;
}
