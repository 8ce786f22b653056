// A small checker for the JSON Schema (draft 2020-12) keywords that weft's
// published schemas use, so that tests can check real output against the
// schemas API clients see (not only against the zod schemas they come from).
// An unknown keyword is an error: the checker never passes by ignoring one.

type Schema = boolean | { readonly [keyword: string]: unknown };

const IGNORED = new Set(["$schema", "$defs", "description", "title", "default", "format"]);

/** The problems of `value` against `schema` (empty when it conforms), each with its path. */
export function checkJsonSchema(schema: unknown, value: unknown): string[] {
  if (typeof schema !== "boolean" && (typeof schema !== "object" || schema === null)) {
    throw new Error("checkJsonSchema: a schema is an object or a boolean");
  }
  const root = schema as Schema;
  const problems: string[] = [];

  const resolveRef = (ref: string): Schema => {
    if (!ref.startsWith("#/")) throw new Error(`unsupported $ref ${ref}`);
    let node: unknown = root;
    for (const part of ref.slice(2).split("/")) node = (node as Record<string, unknown>)[part];
    if (node === undefined) throw new Error(`dangling $ref ${ref}`);
    return node as Schema;
  };

  const typeOf = (v: unknown): string =>
    v === null
      ? "null"
      : Array.isArray(v)
        ? "array"
        : typeof v === "number" && Number.isInteger(v)
          ? "integer"
          : typeof v;

  const check = (s: Schema, v: unknown, path: string, out: string[]): void => {
    if (s === true) return;
    if (s === false) {
      out.push(`${path}: no value is allowed`);
      return;
    }
    for (const [keyword, arg] of Object.entries(s)) {
      if (IGNORED.has(keyword)) continue;
      switch (keyword) {
        case "$ref":
          check(resolveRef(arg as string), v, path, out);
          break;
        case "type": {
          const t = typeOf(v);
          const ok = arg === t || (arg === "number" && t === "integer");
          if (!ok) out.push(`${path}: expected ${String(arg)}, got ${t}`);
          break;
        }
        case "const":
          if (JSON.stringify(v) !== JSON.stringify(arg))
            out.push(`${path}: expected ${JSON.stringify(arg)}`);
          break;
        case "enum":
          if (!(arg as unknown[]).some((e) => JSON.stringify(e) === JSON.stringify(v)))
            out.push(`${path}: ${JSON.stringify(v)} is not one of ${JSON.stringify(arg)}`);
          break;
        case "minLength":
          if (typeof v === "string" && [...v].length < (arg as number))
            out.push(`${path}: shorter than ${String(arg)}`);
          break;
        case "maxLength":
          if (typeof v === "string" && [...v].length > (arg as number))
            out.push(`${path}: longer than ${String(arg)}`);
          break;
        case "pattern":
          if (typeof v === "string" && !new RegExp(arg as string, "u").test(v))
            out.push(`${path}: does not match ${String(arg)}`);
          break;
        case "minimum":
          if (typeof v === "number" && v < (arg as number)) out.push(`${path}: below ${arg}`);
          break;
        case "maximum":
          if (typeof v === "number" && v > (arg as number)) out.push(`${path}: above ${arg}`);
          break;
        case "exclusiveMinimum":
          if (typeof v === "number" && v <= (arg as number)) out.push(`${path}: not above ${arg}`);
          break;
        case "items":
          if (Array.isArray(v)) {
            for (let i = 0; i < v.length; i++) check(arg as Schema, v[i], `${path}[${i}]`, out);
          }
          break;
        case "required":
          if (typeOf(v) === "object") {
            for (const key of arg as string[]) {
              if (!Object.hasOwn(v as object, key)) out.push(`${path}: missing ${key}`);
            }
          }
          break;
        case "properties":
          if (typeOf(v) === "object") {
            for (const [key, sub] of Object.entries(arg as Record<string, Schema>)) {
              if (Object.hasOwn(v as object, key))
                check(sub, (v as Record<string, unknown>)[key], `${path}.${key}`, out);
            }
          }
          break;
        case "additionalProperties":
          if (typeOf(v) === "object") {
            const known = Object.keys((s.properties as object | undefined) ?? {});
            for (const [key, item] of Object.entries(v as object)) {
              if (!known.includes(key)) check(arg as Schema, item, `${path}.${key}`, out);
            }
          }
          break;
        case "propertyNames":
          if (typeOf(v) === "object") {
            for (const key of Object.keys(v as object))
              check(arg as Schema, key, `${path}{${key}}`, out);
          }
          break;
        case "anyOf":
        case "oneOf": {
          const matches = (arg as Schema[]).filter((sub) => {
            const sink: string[] = [];
            check(sub, v, path, sink);
            return sink.length === 0;
          }).length;
          if (matches === 0) out.push(`${path}: matches none of ${keyword}`);
          if (keyword === "oneOf" && matches > 1) out.push(`${path}: matches ${matches} of oneOf`);
          break;
        }
        default:
          throw new Error(`checkJsonSchema: unsupported keyword ${keyword} at ${path}`);
      }
    }
  };

  check(root, value, "$", problems);
  return problems;
}
