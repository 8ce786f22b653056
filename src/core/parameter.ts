import { WeftError } from "./errors.ts";
import {
  activeBuilder,
  PARAMETER_TYPES,
  type ParameterSpec,
  type ParameterType,
  type Ref,
} from "./graph.ts";
import { makeTask } from "./task.ts";
import { DEFAULT_TASK_OPTIONS } from "./task-options.ts";

/** Options of a flow parameter. */
export interface ParameterOptions<T> {
  /** Shown by `weft inspect` and the UI. */
  description?: string;
  /** The run must give a value. @default true when there is no default value */
  required?: boolean;
  /** The JSON type values must have. @default inferred from the default value */
  type?: ParameterType;
  /** Extra check: return `true`, or `false` / a message when the value is refused. */
  validate?: (value: T) => boolean | string;
}

/**
 * Declares a named flow input inside a flow builder and returns a reference to its value.
 * @example
 * const day = parameter("day", "2026-01-01", { description: "partition to load" });
 * const limit = parameter<number>("limit"); // required
 */
export function parameter<T>(
  name: string,
  defaultValue?: T,
  options: ParameterOptions<T> = {},
): Ref<T> {
  const builder = activeBuilder();
  if (builder === undefined) {
    throw new WeftError(
      "TASK_OUTSIDE_FLOW",
      `parameter "${name}" was declared outside a flow builder`,
    );
  }
  if (typeof name !== "string" || !/^[A-Za-z_][\w.-]{0,99}$/.test(name)) {
    throw new WeftError(
      "INVALID_PARAMETER",
      `parameter name ${JSON.stringify(name)} is not usable: use letters, digits, "_", "-" or "." and start with a letter`,
    );
  }
  checkParameterName(name, `flow "${builder.flowName}"`);
  if (builder.parameters.has(name)) {
    throw new WeftError(
      "DUPLICATE_PARAMETER",
      `flow "${builder.flowName}" declares parameter "${name}" twice`,
    );
  }
  const type = options.type ?? inferType(defaultValue);
  if (
    options.type !== undefined &&
    !(PARAMETER_TYPES as readonly string[]).includes(options.type)
  ) {
    throw new WeftError(
      "INVALID_PARAMETER",
      `parameter "${name}": unknown type ${JSON.stringify(options.type)} (known: ${PARAMETER_TYPES.join(", ")})`,
    );
  }
  const spec: ParameterSpec = {
    name,
    defaultValue,
    required: options.required ?? defaultValue === undefined,
    type,
    description: options.description,
    validate: options.validate as ((value: unknown) => boolean | string) | undefined,
  };
  builder.parameters.set(name, spec);
  const node = makeTask(name, "parameter", () => defaultValue, DEFAULT_TASK_OPTIONS);
  return builder.add(node, [], false, 0) as Ref<T>;
}

/**
 * Names no parameter may have: as keys of a plain object they reach
 * `Object.prototype` (`values["__proto__"]` is the prototype itself), so a task
 * could be handed, or write to, the prototype of every object in the process.
 */
export const RESERVED_PARAMETER_NAMES: readonly string[] = [
  "__proto__",
  "constructor",
  "prototype",
];

/** True for a name in {@link RESERVED_PARAMETER_NAMES}. */
export function isReservedParameterName(name: string): boolean {
  return RESERVED_PARAMETER_NAMES.includes(name);
}

/** Refuses a reserved parameter name (INVALID_PARAMETER), naming `where` it was found. */
export function checkParameterName(name: string, where: string): void {
  if (isReservedParameterName(name)) {
    throw new WeftError(
      "INVALID_PARAMETER",
      `${where}: parameter name ${JSON.stringify(name)} is reserved (it would reach Object.prototype)`,
      {
        hint: `rename the parameter; ${RESERVED_PARAMETER_NAMES.join(", ")} are never parameter names`,
      },
    );
  }
}

function inferType(value: unknown): ParameterType | undefined {
  if (value === undefined || value === null) return undefined;
  if (Array.isArray(value)) return "array";
  const t = typeof value;
  if (t === "string" || t === "number" || t === "boolean") return t;
  if (t === "object") return "object";
  return undefined;
}

function typeMatches(type: ParameterType, value: unknown): boolean {
  switch (type) {
    case "string":
      return typeof value === "string";
    case "number":
      return typeof value === "number" && Number.isFinite(value);
    case "integer":
      return Number.isInteger(value);
    case "boolean":
      return typeof value === "boolean";
    case "array":
      return Array.isArray(value);
    case "object":
      return typeof value === "object" && value !== null && !Array.isArray(value);
  }
}

/** The error for a parameter name the flow does not declare, listing those it does. */
export function unknownParameter(
  flowName: string,
  specs: ReadonlyMap<string, ParameterSpec>,
  name: string,
): WeftError {
  const known = [...specs.keys()];
  return new WeftError("UNKNOWN_PARAMETER", `flow "${flowName}" has no parameter "${name}"`, {
    hint: known.length ? `its parameters: ${known.join(", ")}` : "this flow takes no parameters",
    details: { parameter: name },
  });
}

/**
 * Checks a run's parameter values against the flow's declarations and fills in
 * defaults. Refuses unknown names, missing required values and wrong types.
 */
export function resolveParameters(
  flowName: string,
  specs: ReadonlyMap<string, ParameterSpec>,
  given: Readonly<Record<string, unknown>> = {},
): Record<string, unknown> {
  for (const key of Object.keys(given)) {
    checkParameterName(key, `flow "${flowName}"`);
    if (!specs.has(key)) {
      throw unknownParameter(flowName, specs, key);
    }
  }
  // No prototype: a key can never reach Object.prototype, whatever it is called.
  const values: Record<string, unknown> = Object.create(null);
  for (const spec of specs.values()) {
    const has = Object.hasOwn(given, spec.name) && given[spec.name] !== undefined;
    if (!has) {
      if (spec.required) {
        throw new WeftError(
          "MISSING_PARAMETER",
          `flow "${flowName}" needs parameter "${spec.name}"`,
          {
            hint: `pass it with --param ${spec.name}=…`,
            details: { parameter: spec.name },
          },
        );
      }
      values[spec.name] = spec.defaultValue;
      continue;
    }
    const value = given[spec.name];
    if (spec.type !== undefined && !typeMatches(spec.type, value)) {
      throw new WeftError(
        "INVALID_PARAMETER",
        `parameter "${spec.name}" of flow "${flowName}" must be ${article(spec.type)}, got ${show(value)}`,
        { details: { parameter: spec.name } },
      );
    }
    if (spec.validate !== undefined) {
      const verdict = spec.validate(value);
      if (verdict !== true) {
        const why = typeof verdict === "string" ? `: ${verdict}` : "";
        throw new WeftError(
          "INVALID_PARAMETER",
          `parameter "${spec.name}" of flow "${flowName}" refused ${show(value)}${why}`,
          { details: { parameter: spec.name } },
        );
      }
    }
    values[spec.name] = value;
  }
  return values;
}

/** A value as a message shows it: JSON, except what JSON cannot say (NaN, Infinity, undefined). */
function show(value: unknown): string {
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  return JSON.stringify(value) ?? String(value);
}

function article(type: ParameterType): string {
  return type === "integer" || type === "object" || type === "array" ? `an ${type}` : `a ${type}`;
}

/**
 * Turns the text of `--param name=text` into a value of the parameter's type:
 * numbers and booleans are parsed, strings kept, arrays and objects read as JSON.
 * Without a declared type, JSON is tried and the text kept when it is not JSON.
 */
export function parseParameterText(
  flowName: string,
  spec: ParameterSpec | undefined,
  name: string,
  text: string,
): unknown {
  const fail = (what: string) =>
    new WeftError(
      "INVALID_PARAMETER",
      `parameter "${name}" of flow "${flowName}" must be ${what}, got ${JSON.stringify(text)}`,
    );
  switch (spec?.type) {
    case "string":
      return text;
    case "number":
    case "integer": {
      const n = text.trim() === "" ? Number.NaN : Number(text);
      if (!Number.isFinite(n) || (spec.type === "integer" && !Number.isInteger(n)))
        throw fail(article(spec.type));
      return n;
    }
    case "boolean":
      if (text === "true") return true;
      if (text === "false") return false;
      throw fail("true or false");
    case "array":
    case "object":
      try {
        return JSON.parse(text);
      } catch {
        throw fail(`${article(spec.type)} in JSON`);
      }
    case undefined:
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
  }
}
