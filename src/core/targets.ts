// Targets (Prefect's `target`, PIN-16): a task with `target` is a Makefile
// rule. Before it runs, its target is rendered (a template, or a function of
// the run); when the flow's result backend already holds that location, the
// task ends Cached with the value stored there, without running; otherwise it
// runs and its result is written there. This module renders and checks
// targets; the task runner (engine/task-runner.ts) applies them.
import { WeftError } from "./errors.ts";
import { checkResultLocation } from "./results.ts";

/** What a target is rendered from: one task run (or mapped child) of one flow run. */
export interface TargetContext {
  readonly flowName: string;
  readonly flowRunId: string;
  readonly taskName: string;
  readonly taskSlug: string;
  /** The child's index for a mapped task; undefined otherwise. */
  readonly mapIndex: number | undefined;
  /** The flow run's parameters. */
  readonly parameters: Readonly<Record<string, unknown>>;
  /** When the task run started. Date fields of a template are this date in UTC. */
  readonly date: Date;
}

/** A target: a location template (`"{flowName}/{taskName}-{today}"`) or a function of the run. */
export type Target = string | ((ctx: TargetContext) => string);

/**
 * The fields a target template can use, besides `{parameters.NAME}` (a flow
 * parameter's value). Date fields are the task run's start, in UTC:
 * `today`, `yesterday`, `tomorrow` as YYYY-MM-DD; `year` (YYYY), `month` (MM),
 * `day` (DD), `hour` (HH), `minute` (mm). `mapIndex` is `-` for a task that is
 * not mapped.
 */
export const TARGET_FIELDS = [
  "flowName",
  "flowRunId",
  "taskName",
  "taskSlug",
  "mapIndex",
  "today",
  "yesterday",
  "tomorrow",
  "year",
  "month",
  "day",
  "hour",
  "minute",
] as const;

const FIELD = /\{([^{}]*)\}/g;
const PARAMETER_PREFIX = "parameters.";

/**
 * Checks a target template once, when the task is defined: every field known.
 * Returns the names of the parameters it uses (checked when the flow is built).
 */
export function checkTargetTemplate(taskName: string, template: string): string[] {
  const parameters: string[] = [];
  for (const match of template.matchAll(FIELD)) {
    const field = match[1]!;
    if (field.startsWith(PARAMETER_PREFIX) && field.length > PARAMETER_PREFIX.length) {
      parameters.push(field.slice(PARAMETER_PREFIX.length));
    } else if (!(TARGET_FIELDS as readonly string[]).includes(field)) {
      throw new WeftError(
        "INVALID_TASK_OPTIONS",
        `task "${taskName}": target ${JSON.stringify(template)} has an unknown field {${field}}`,
        {
          hint: `fields: ${TARGET_FIELDS.map((f) => `{${f}}`).join(", ")}, {parameters.NAME}`,
        },
      );
    }
  }
  return parameters;
}

/**
 * Checks a task's static target against the flow it is used in: each
 * parameter it names is declared, and a mapped task's target has {mapIndex}
 * (else its children would share one location).
 */
export function checkTargetInFlow(
  flowName: string,
  slug: string,
  template: string,
  mapped: boolean,
  parameters: ReadonlyMap<string, unknown>,
): void {
  for (const name of checkTargetTemplate(slug, template)) {
    if (!parameters.has(name)) {
      throw new WeftError(
        "INVALID_TASK_OPTIONS",
        `flow "${flowName}": the target of ${slug} uses {parameters.${name}}, but the flow has no parameter "${name}"`,
        { hint: `declare it with parameter("${name}", …), or fix the field` },
      );
    }
  }
  if (mapped && !template.includes("{mapIndex}")) {
    throw new WeftError(
      "INVALID_TASK_OPTIONS",
      `flow "${flowName}": ${slug} is mapped but its target ${JSON.stringify(template)} has no {mapIndex}: every child would read and write the same location`,
      { hint: `add {mapIndex}, e.g. "${template}-{mapIndex}"` },
    );
  }
}

/**
 * The location a target names for one task run, checked to stay inside the
 * result backend. Field values are made safe (`/` and `\` become `_`); a
 * function's answer is used as it is, and must be a relative location.
 */
export function renderTarget(target: Target, ctx: TargetContext): string {
  let location: unknown;
  if (typeof target === "function") {
    location = target(ctx);
    if (typeof location !== "string") {
      throw new WeftError(
        "INVALID_TASK_OPTIONS",
        `the target function of ${ctx.taskSlug} returned ${location === null ? "null" : typeof location}, expected a string`,
      );
    }
  } else {
    location = target.replace(FIELD, (_match, field: string) =>
      safe(fieldValue(field, ctx, target)),
    );
  }
  checkResultLocation(location as string);
  return location as string;
}

function fieldValue(field: string, ctx: TargetContext, template: string): string {
  if (field.startsWith(PARAMETER_PREFIX)) {
    const value = ctx.parameters[field.slice(PARAMETER_PREFIX.length)];
    return typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  }
  const date = ctx.date;
  switch (field) {
    case "flowName":
      return ctx.flowName;
    case "flowRunId":
      return ctx.flowRunId;
    case "taskName":
      return ctx.taskName;
    case "taskSlug":
      return ctx.taskSlug;
    case "mapIndex":
      return ctx.mapIndex === undefined ? "-" : String(ctx.mapIndex);
    case "today":
      return isoDay(date, 0);
    case "yesterday":
      return isoDay(date, -1);
    case "tomorrow":
      return isoDay(date, 1);
    case "year":
      return String(date.getUTCFullYear()).padStart(4, "0");
    case "month":
      return pad2(date.getUTCMonth() + 1);
    case "day":
      return pad2(date.getUTCDate());
    case "hour":
      return pad2(date.getUTCHours());
    case "minute":
      return pad2(date.getUTCMinutes());
  }
  // Fields are checked when the task is defined; this is a template changed since.
  throw new WeftError(
    "INVALID_TASK_OPTIONS",
    `target ${JSON.stringify(template)}: unknown field {${field}}`,
  );
}

function isoDay(date: Date, offsetDays: number): string {
  return new Date(date.getTime() + offsetDays * 86_400_000).toISOString().slice(0, 10);
}

function pad2(n: number): string {
  return String(n).padStart(2, "0");
}

function safe(value: string): string {
  return value.replace(/[/\\]/g, "_").replace(/^\.\.?$/, "_");
}
