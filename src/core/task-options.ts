import { z } from "zod";
import { WeftError } from "./errors.ts";
import type { StateHandler } from "./state-handlers.ts";
import { checkTargetTemplate, type Target } from "./targets.ts";
import { TRIGGERS, type Trigger } from "./triggers.ts";

/** What kind of node a task makes: user tasks, and the built-ins. */
export type NodeKind =
  | "task"
  | "parameter"
  | "condition"
  | "merge"
  // A resource's setup and cleanup tasks (core/resource.ts).
  | "setup"
  | "cleanup";

/**
 * Options of a task (what users write).
 * @example
 * task("fetch", fetchPage, { retries: 3, retryDelay: (n) => 100 * 2 ** n, timeout: 5_000 })
 */
export interface TaskOptions<A extends unknown[] = unknown[]> {
  /** Extra attempts after the first failure. @default 0 */
  retries?: number;
  /** Milliseconds before a retry, or a function of the attempt that failed (1-based). @default 0 */
  retryDelay?: number | ((attempt: number) => number);
  /** Milliseconds one attempt may take. In-process this is a soft timeout (the task is abandoned and its signal fires); the worker-threads executor enforces it hard. @default none */
  timeout?: number;
  /**
   * Decides from the upstream states whether the task runs: a name, a function of the
   * upstream counts, or `someFailed(…)`/`someSuccessful(…)`. @default "all_successful"
   */
  trigger?: Trigger;
  /** End Skipped when any upstream was skipped (before the trigger is asked). @default true */
  skipOnUpstreamSkip?: boolean;
  /** Keep a successful result for this many milliseconds and reuse it for equal inputs. @default none */
  cacheFor?: number;
  /** The cache key of one call, from its inputs. @default JSON of the inputs */
  cacheKey?: (...args: A) => string;
  /** Free-form labels (shown, and used for routing by later executors). @default [] */
  tags?: string[];
  /** Persist the result in the flow's result backend. @default true when the flow has one */
  checkpoint?: boolean;
  /**
   * `"content"`: cache by the hash of the task's code, its inputs and its options (no key
   * function to write); changing the task's code invalidates it. Needs a result backend.
   * Combine with `cacheFor` to bound its age. @default none
   */
  cache?: "content";
  /**
   * Where the result lives in the flow's result backend, as a template
   * (`"{flowName}/{taskName}-{today}"`, fields in core/targets.ts) or a function
   * of the run. When that location exists, the task ends Cached with what is
   * stored there, without running; else it runs and its result is written
   * there. Needs a result backend. @default none
   */
  target?: Target;
  /** Called on every state change of each run of the task (each mapped child, each retry), in order; see {@link StateHandler}. @default none */
  onStateChange?: StateHandler[];
  /** The most times one run of the task may run again by throwing `Loop` or `Retry`. @default 1000 */
  maxLoops?: number;
}

/** Task options after validation: complete and frozen. */
export interface ResolvedTaskOptions {
  readonly retries: number;
  readonly retryDelay: number | ((attempt: number) => number);
  readonly timeout: number | undefined;
  readonly trigger: Trigger;
  readonly skipOnUpstreamSkip: boolean;
  readonly cacheFor: number | undefined;
  readonly cacheKey: ((...args: never[]) => string) | undefined;
  readonly tags: readonly string[];
  /** Undefined: follow the flow (checkpoint when it has a result backend). */
  readonly checkpoint: boolean | undefined;
  readonly cache: "content" | undefined;
  readonly target: Target | undefined;
  /** Undefined when the task has none, so that the task runner checks one field. */
  readonly onStateChange: readonly StateHandler[] | undefined;
  readonly maxLoops: number;
}

/** What a graph node needs to know about its task. */
export interface TaskSpec {
  readonly name: string;
  readonly kind: NodeKind;
  readonly fn: (...args: never[]) => unknown;
  readonly options: ResolvedTaskOptions;
}

// biome-ignore lint/suspicious/noExplicitAny: a user function of any signature; its use site types it.
type AnyFunction = (...args: any[]) => any;
const fnSchema = z.custom<AnyFunction>((v) => typeof v === "function", {
  message: "expected a function",
});

const triggerSchema = z.custom<Trigger>(
  (v) => typeof v === "function" || (TRIGGERS as readonly unknown[]).includes(v),
  { message: `expected one of ${TRIGGERS.map((t) => JSON.stringify(t)).join("|")} or a function` },
);

const taskOptionsSchema = z.strictObject({
  retries: z.int().min(0).optional(),
  retryDelay: z.union([z.number().min(0), fnSchema]).optional(),
  timeout: z.number().positive().optional(),
  trigger: triggerSchema.optional(),
  skipOnUpstreamSkip: z.boolean().optional(),
  cacheFor: z.number().positive().optional(),
  cacheKey: fnSchema.optional(),
  tags: z.array(z.string()).optional(),
  checkpoint: z.boolean().optional(),
  cache: z.literal("content").optional(),
  target: z.union([z.string().min(1), fnSchema]).optional(),
  onStateChange: z.array(fnSchema).optional(),
  maxLoops: z.int().min(0).optional(),
});

/** How many times a task run may run again by its own signal (`Loop`, `Retry`) when its options do not say. */
export const DEFAULT_MAX_LOOPS = 1000;

/** Defaults shared by every task without options (one frozen object). */
export const DEFAULT_TASK_OPTIONS: ResolvedTaskOptions = Object.freeze({
  retries: 0,
  retryDelay: 0,
  timeout: undefined,
  trigger: "all_successful",
  skipOnUpstreamSkip: true,
  cacheFor: undefined,
  cacheKey: undefined,
  tags: Object.freeze([]) as readonly string[],
  checkpoint: undefined,
  cache: undefined,
  target: undefined,
  onStateChange: undefined,
  maxLoops: DEFAULT_MAX_LOOPS,
});

/** Validates a task's options once, naming the task, the field and the value when one is wrong. */
export function resolveTaskOptions(taskName: string, options: unknown): ResolvedTaskOptions {
  if (options === undefined) return DEFAULT_TASK_OPTIONS;
  const parsed = taskOptionsSchema.safeParse(options);
  if (!parsed.success) {
    throw new WeftError(
      "INVALID_TASK_OPTIONS",
      `task "${taskName}": ${formatIssues(parsed.error, options)}`,
    );
  }
  const o = parsed.data;
  if (typeof o.target === "string") checkTargetTemplate(taskName, o.target);
  return Object.freeze({
    retries: o.retries ?? 0,
    retryDelay: o.retryDelay ?? 0,
    timeout: o.timeout,
    trigger: o.trigger ?? "all_successful",
    skipOnUpstreamSkip: o.skipOnUpstreamSkip ?? true,
    cacheFor: o.cacheFor,
    cacheKey: o.cacheKey,
    tags: Object.freeze([...(o.tags ?? [])]),
    checkpoint: o.checkpoint,
    cache: o.cache,
    target: o.target,
    onStateChange:
      o.onStateChange === undefined || o.onStateChange.length === 0
        ? undefined
        : Object.freeze([...o.onStateChange]),
    maxLoops: o.maxLoops ?? DEFAULT_MAX_LOOPS,
  });
}

/**
 * One phrase per zod issue, `<prefix><field>: what is wrong (got value)`, joined
 * with "; ". An issue at the root gets `root` instead of a field name.
 */
export function formatIssues(
  error: z.ZodError,
  input: unknown,
  prefix = "option ",
  root = "",
  /** Echo the rejected value (off where values may be secrets). */
  echo = true,
): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.join(".");
      let got: unknown = input;
      for (const key of issue.path)
        got = (got as Record<PropertyKey, unknown> | undefined)?.[key as PropertyKey];
      const shown =
        !echo || issue.code === "unrecognized_keys" || got === undefined
          ? ""
          : ` (got ${typeof got === "function" ? "a function" : (JSON.stringify(got) ?? String(got)).slice(0, 80)})`;
      const field = path ? `${prefix}${path}: ` : root ? `${root}: ` : "";
      return `${field}${issue.message}${shown}`;
    })
    .join("; ");
}
