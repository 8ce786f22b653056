import type { ParameterSpec } from "../core/graph.ts";
import { checkParameterName, parseParameterText, unknownParameter } from "../core/parameter.ts";
import { CliError, EXIT } from "./output.ts";

/** The parameter flags of `weft run` (local and --remote). */
export interface ParameterFlags {
  param: string[];
  paramsJson?: string;
}

/**
 * The parameter values `--params-json` and `--param name=value` give (a
 * `--param` wins), each text parsed by the declared parameter's type.
 */
export function parameterValues(
  flowName: string,
  specs: ReadonlyMap<string, ParameterSpec>,
  flags: ParameterFlags,
): Record<string, unknown> {
  // No prototype: no name, however spelled, reaches Object.prototype.
  const values: Record<string, unknown> = Object.create(null);
  if (flags.paramsJson !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(flags.paramsJson);
    } catch (error) {
      throw new CliError(
        `--params-json is not valid JSON: ${(error as Error).message}`,
        EXIT.usage,
      );
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new CliError("--params-json must be a JSON object of parameter values", EXIT.usage);
    }
    for (const [name, value] of Object.entries(parsed)) {
      checkParameterName(name, "--params-json");
      values[name] = value;
    }
  }
  for (const pair of flags.param) {
    const eq = pair.indexOf("=");
    if (eq <= 0)
      throw new CliError(`--param ${JSON.stringify(pair)} must look like name=value`, EXIT.usage);
    const name = pair.slice(0, eq);
    checkParameterName(name, "--param");
    const spec = specs.get(name);
    if (spec === undefined) throw unknownParameter(flowName, specs, name);
    values[name] = parseParameterText(flowName, spec, name, pair.slice(eq + 1));
  }
  return values;
}
