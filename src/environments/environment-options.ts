// What every environment kind does with its options the same way: check them against the
// kind's JSON schema when the environment is made (what the constructor accepts,
// environmentFromJSON must accept: one schema for both), and turn that JSON back into options.
import type { z } from "zod";
import { WeftError } from "../core/errors.ts";
import type { ExecutorSpec } from "../core/executor-spec.ts";
import { formatIssues } from "../core/task-options.ts";
import { resolveExecutorOptions } from "../engine/executors/executor.ts";

/** The options every kind shares, as its constructor sees them. */
interface CommonOptions {
  readonly executor?: ExecutorSpec;
  readonly labels?: readonly string[];
  readonly onStart?: unknown;
  readonly onExit?: unknown;
}

/**
 * Refuses options of a `type` environment its schema refuses (INVALID_FLOW_OPTIONS naming the
 * option) or an executor it cannot make; answers the environment's labels (a copy).
 */
export function checkEnvironmentOptions(
  type: string,
  schema: z.ZodType,
  options: CommonOptions,
): string[] {
  if (options.executor !== undefined) resolveExecutorOptions(options.executor);
  const labels = [...(options.labels ?? [])];
  const { onStart: _start, onExit: _exit, ...settings } = options;
  const checked = schema.safeParse({ type, schemaVersion: 1, ...settings, labels });
  if (!checked.success) {
    throw new WeftError(
      "INVALID_FLOW_OPTIONS",
      `${type} environment: ${formatIssues(checked.error, settings, "", "options")}`,
    );
  }
  return labels;
}

/** An environment's options from its validated JSON: the settings, the executor as a spec. */
export function optionsFromJSON<O>(json: {
  readonly type: string;
  readonly schemaVersion: number;
  readonly executor?: unknown;
}): O {
  const { type: _t, schemaVersion: _v, executor, ...rest } = json;
  return {
    ...rest,
    ...(executor === undefined ? {} : { executor: executor as ExecutorSpec }),
  } as O;
}
