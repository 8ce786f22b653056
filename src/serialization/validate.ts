import type { z } from "zod";
import { WeftError } from "../core/errors.ts";
import { formatIssues } from "../core/task-options.ts";
import { SCHEMA_VERSIONS, type SchemaKind } from "./schemas.ts";

/**
 * Parses serialized JSON strictly against `schema`: a schema version newer than
 * this weft understands is refused with an upgrade hint; any other problem is
 * refused with the path of the field (prefixed with `where`).
 */
export function parseStrict<S extends z.ZodType>(
  kind: SchemaKind,
  schema: S,
  json: unknown,
  where: string = kind,
): z.infer<S> {
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new WeftError(
      "INVALID_SERIALIZED",
      `${where}: expected a JSON object, got ${json === null ? "null" : Array.isArray(json) ? "an array" : typeof json}`,
    );
  }
  const version = (json as { schemaVersion?: unknown }).schemaVersion;
  const known = SCHEMA_VERSIONS[kind];
  if (typeof version === "number" && Number.isInteger(version) && version > known) {
    throw new WeftError(
      "SCHEMA_VERSION_UNSUPPORTED",
      `${where}: schema version ${version} is newer than this weft understands (${kind} schema version ${known})`,
      { hint: "upgrade weft where this object is read" },
    );
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    // Storage and environment settings may hold secrets: their rejected values are never echoed.
    const echo = kind !== "storage" && kind !== "environment" && kind !== "result";
    throw new WeftError(
      "INVALID_SERIALIZED",
      formatIssues(parsed.error, json, `${where}.`, where, echo),
    );
  }
  return parsed.data;
}
