import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { isWeftError, WeftError } from "../core/errors.ts";
import { type Flow, isFlow } from "../core/flow.ts";
import { slugify } from "../core/names.ts";
import { PACKAGE_NAME } from "../core/package.ts";
import { toErrorData } from "../core/states.ts";
import { importUserModule } from "./user-modules.ts";

/** The flows a module exports, in export order. Refuses two flows with one name. */
export function flowsOfModule(namespace: Record<string, unknown>, where: string): Flow<unknown>[] {
  const flows: Flow<unknown>[] = [];
  const seen = new Map<string, string>();
  for (const [exportName, value] of Object.entries(namespace)) {
    if (!isFlow(value) || flows.includes(value)) continue;
    const other = seen.get(value.name);
    if (other !== undefined) {
      throw new WeftError(
        "DUPLICATE_FLOW_NAME",
        `${where} exports two flows named "${value.name}" (as ${other} and ${exportName})`,
        { hint: "flow names must be unique within a module" },
      );
    }
    seen.set(value.name, exportName);
    flows.push(value);
  }
  return flows;
}

/** Imports a user's module by URL, showing the module's own error when its import throws. */
async function importModule(url: string, where: string): Promise<Record<string, unknown>> {
  try {
    return await importUserModule(url);
  } catch (error) {
    // A weft error raised while the module ran (a bad task option, say) keeps its own code.
    if (isWeftError(error)) {
      throw new WeftError(error.code, `${where}: ${error.message}`, {
        cause: error,
        ...(error.hint ? { hint: error.hint } : {}),
      });
    }
    const syntax = syntaxErrorOf(error, where);
    if (syntax !== undefined) {
      throw new WeftError("FLOW_MODULE_SYNTAX_ERROR", `syntax error in ${syntax}`, {
        cause: error,
        hint: /\.[cm]?tsx?$/.test(where)
          ? "fix the file at that line and run again"
          : `\`node --check ${where}\` shows the line`,
      });
    }
    // Node appends "Require stack:" lines to a CommonJS resolution error: the first line says it.
    const message = toErrorData(error).message.split("\n")[0] ?? "";
    throw new WeftError("FLOW_MODULE_IMPORT_FAILED", `importing ${where} failed: ${message}`, {
      cause: error,
      ...importHint((error as { code?: unknown }).code, message),
    });
  }
}

function importHint(code: unknown, message: string): { hint?: string } {
  // A .ts/.js file in a package without "type": "module" is CommonJS; it resolves
  // "weftflow" with require(), which weft cannot point at itself as it does for ES modules.
  if (code === "MODULE_NOT_FOUND" && message.includes(`'${PACKAGE_NAME}'`)) {
    return {
      hint: `this file is CommonJS and finds no ${PACKAGE_NAME} of its own: make it an ES module (name it .mts, or add "type": "module" to the nearest package.json), or npm install ${PACKAGE_NAME} beside it`,
    };
  }
  // Node before 20.19 cannot require() an ES module such as weftflow.
  if (
    code === "ERR_REQUIRE_ESM" ||
    /require\(\) (of )?ES Module|ERR_REQUIRE_(ESM|CYCLE|ASYNC_MODULE)|in a cycle/i.test(message)
  ) {
    return {
      hint: 'flow files are ES modules: name the file .mts, or add "type": "module" to the nearest package.json',
    };
  }
  // A package the flow's module imports is not installed where the file is.
  const missing = /^Cannot find (?:package|module) '([^']+)'/.exec(message)?.[1];
  if (
    (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    missing !== undefined &&
    !/^(\.|\/|file:|node:|[A-Za-z]:[\\/])/.test(missing)
  ) {
    const parts = missing.split("/");
    const name = missing.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
    return {
      hint: `the flow's module imports the package ${name}, which is not installed: npm install ${name} (in the flow's project)`,
    };
  }
  return {};
}

/**
 * `file:line:column: what` for a syntax error in a user's module, from
 * esbuild's (through tsx: TypeScript) or Node's own (JavaScript); undefined
 * for any other error.
 */
function syntaxErrorOf(error: unknown, where: string): string | undefined {
  const e = error as {
    name?: unknown;
    stack?: unknown;
    message?: unknown;
    errors?: { text?: unknown; location?: { line?: unknown; column?: unknown } | null }[];
  };
  const first = Array.isArray(e?.errors) ? e.errors[0] : undefined;
  if (first !== undefined && typeof first.text === "string") {
    const at = first.location;
    const position =
      at && typeof at.line === "number" && typeof at.column === "number"
        ? `:${at.line}:${at.column + 1}`
        : "";
    const more = e.errors!.length > 1 ? ` (and ${e.errors!.length - 1} more)` : "";
    return `${where}${position}: ${first.text}${more}`;
  }
  if (typeof e?.message !== "string") return undefined;
  // The same from tsx's loader thread, where only the message crosses:
  // "Transform failed with 1 error:\n/abs/file.ts:3:0: ERROR: Unexpected end of file"
  const transform =
    /^Transform failed with (\d+) errors?:\n[^\n]*?:(\d+):(\d+): ERROR: ([^\n]*)/.exec(e.message);
  if (transform !== null) {
    const [, count, line, column, text] = transform;
    const more = Number(count) > 1 ? ` (and ${Number(count) - 1} more)` : "";
    return `${where}:${line}:${Number(column) + 1}: ${text}${more}`;
  }
  // Node keeps the line of a JavaScript module's syntax error to itself (`node --check` shows it).
  if (e.name === "SyntaxError") return `${where}: ${e.message.split("\n")[0]}`;
  return undefined;
}

/** Imports a flow file (TypeScript or JavaScript) and returns the flows it exports. */
export async function loadFlowFile(path: string): Promise<Flow<unknown>[]> {
  const absolute = resolve(path);
  if (!existsSync(absolute) || !statSync(absolute).isFile()) {
    throw new WeftError("FLOW_MODULE_NOT_FOUND", `flow file not found: ${path}`);
  }
  const flows = flowsOfModule(await importModule(pathToFileURL(absolute).href, path), path);
  if (flows.length === 0) {
    throw new WeftError("NO_FLOW_IN_MODULE", `${path} exports no flow`, {
      hint: 'export the flow: export const myFlow = flow("my-flow", () => { … })',
    });
  }
  return flows;
}

/** Picks one flow by name or by its slug; with no name there must be exactly one. */
export function pickFlow(
  flows: readonly Flow<unknown>[],
  name: string | undefined,
  where: string,
): Flow<unknown> {
  const names = flows.map((f) => f.name).join(", ");
  if (name === undefined) {
    if (flows.length === 1) return flows[0]!;
    throw new WeftError("AMBIGUOUS_FLOW", `${where} exports ${flows.length} flows: ${names}`, {
      hint: "choose one with --flow NAME",
    });
  }
  // The name itself, else its slug ("example-mapping" for "Example: Mapping"), when one flow has it.
  let found = flows.find((f) => f.name === name);
  if (found === undefined) {
    const bySlug = flows.filter((f) => slugify(f.name) === name);
    if (bySlug.length > 1) {
      throw new WeftError(
        "AMBIGUOUS_FLOW",
        `${where}: ${bySlug.map((f) => JSON.stringify(f.name)).join(" and ")} share the slug "${name}"`,
        { hint: "choose one by its full name (quoted) with --flow" },
      );
    }
    found = bySlug[0];
  }
  if (found === undefined) {
    throw new WeftError("FLOW_NOT_FOUND", `${where} has no flow named "${name}"`, {
      hint: `its flows: ${names}`,
    });
  }
  return found;
}

/** Imports a module by URL and returns its exported flow named `name`. */
export async function loadFlowFromModule(url: string, name: string): Promise<Flow<unknown>> {
  const flows = flowsOfModule(await importModule(url, url), url);
  return pickFlow(flows, name, url);
}
