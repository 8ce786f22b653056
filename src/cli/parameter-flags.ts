import { readFile } from "node:fs/promises";
import type { ParameterSpec } from "../core/graph.ts";
import { checkParameterName, parseParameterText, unknownParameter } from "../core/parameter.ts";
import { CliError, EXIT } from "./output.ts";

/** The parameter flags of `weft run` (local and --remote). */
export interface ParameterFlags {
  param: string[];
  paramsJson?: string;
  /** A file holding one JSON object of parameter values; `-` reads stdin. */
  paramsFile?: string;
}

/**
 * The parameter values `--params-file`, `--params-json` and `--param
 * name=value` give, later ones winning key by key (`--param` over
 * `--params-json` over the file), each `--param` text parsed by the declared
 * parameter's type. `stdin` is what `--params-file -` reads.
 */
export async function parameterValues(
  flowName: string,
  specs: ReadonlyMap<string, ParameterSpec>,
  flags: ParameterFlags,
  stdin: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin,
): Promise<Record<string, unknown>> {
  // No prototype: no name, however spelled, reaches Object.prototype.
  const values: Record<string, unknown> = Object.create(null);
  const take = (source: string, text: string) => {
    for (const [name, value] of Object.entries(jsonObject(source, text))) {
      checkParameterName(name, source);
      values[name] = value;
    }
  };
  if (flags.paramsFile !== undefined) {
    const source =
      flags.paramsFile === "-" ? "--params-file - (stdin)" : `--params-file ${flags.paramsFile}`;
    take(source, await readParamsFile(flags.paramsFile, source, stdin));
  }
  if (flags.paramsJson !== undefined) take("--params-json", flags.paramsJson);
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

async function readParamsFile(
  file: string,
  source: string,
  stdin: NodeJS.ReadableStream & { isTTY?: boolean },
): Promise<string> {
  if (file === "-") {
    if (stdin.isTTY === true)
      throw new CliError(
        `${source} reads stdin, which is a terminal`,
        EXIT.usage,
        "USAGE",
        "pipe the JSON in: weft run flow.ts --params-file - < params.json",
      );
    const chunks: Buffer[] = [];
    for await (const chunk of stdin)
      chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : (chunk as Buffer));
    return Buffer.concat(chunks).toString("utf8");
  }
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      `${source}: ${code === "ENOENT" ? "no such file" : code === "EISDIR" ? "is a directory" : (error as Error).message}`,
      EXIT.usage,
      "USAGE",
      "give a file holding one JSON object of parameter values, or - to read it from stdin",
    );
  }
}

/** `text` parsed as a JSON object of parameter values, or an error naming `source` and the JSON problem. */
function jsonObject(source: string, text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CliError(
      `${source} is not valid JSON: ${(error as Error).message}`,
      EXIT.usage,
      "USAGE",
      'it must hold one JSON object, e.g. {"day": "2026-01-01"}',
    );
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new CliError(
      `${source} must be a JSON object of parameter values, not ${parsed === null ? "null" : Array.isArray(parsed) ? "an array" : typeof parsed}`,
      EXIT.usage,
      "USAGE",
      'e.g. {"day": "2026-01-01"}',
    );
  }
  return parsed as Record<string, unknown>;
}
