import { z } from "zod";
import { WeftError } from "../core/errors.ts";
import { assertNoCredentials } from "./credentials.ts";
import type { SchemaKind } from "./schemas.ts";
import { parseStrict } from "./validate.ts";

/** One kind of a pluggable interface: its tag, its schema and how to build it from valid JSON. */
export interface RegistryEntry<T, J = unknown> {
  readonly type: string;
  /** A strict zod object schema with `type` and `schemaVersion` literals. */
  readonly schema: z.ZodType<J>;
  readonly create: (json: J) => T;
}

/**
 * Turns `{ type, … }` JSON back into an object of a pluggable interface
 * (storages, environments): refuses an unknown `type` listing the known ones,
 * and a malformed field naming it.
 */
export class TypeRegistry<T> {
  private readonly entries = new Map<string, RegistryEntry<T, never>>();

  constructor(readonly kind: Extract<SchemaKind, "storage" | "environment" | "result">) {}

  register<J>(entry: RegistryEntry<T, J>): void {
    if (this.entries.has(entry.type)) {
      throw new WeftError(
        "INVALID_SERIALIZED",
        `${this.kind} type "${entry.type}" is registered twice`,
      );
    }
    this.entries.set(entry.type, entry as unknown as RegistryEntry<T, never>);
  }

  /** The registered type tags. */
  types(): string[] {
    return [...this.entries.keys()];
  }

  has(type: string): boolean {
    return this.entries.has(type);
  }

  /** Validates `json` against its type's schema and builds the object. */
  fromJSON(json: unknown, where: string = this.kind): T {
    const type =
      typeof json === "object" && json !== null ? (json as { type?: unknown }).type : undefined;
    if (typeof type !== "string") {
      throw new WeftError(
        "INVALID_SERIALIZED",
        `${where}.type: expected a string naming the ${this.kind} kind (known: ${this.types().join(", ")})`,
      );
    }
    const entry = this.entries.get(type);
    if (entry === undefined) {
      throw new WeftError(
        "UNKNOWN_TYPE",
        `${where}.type: unknown ${this.kind} type "${type}" (known: ${this.types().join(", ")})`,
      );
    }
    assertNoCredentials(json, where);
    return entry.create(parseStrict(this.kind, entry.schema, json, where) as never);
  }

  /** Validates JSON without building the object. */
  validate(json: unknown, where: string = this.kind): void {
    const type = (json as { type?: unknown } | null)?.type;
    const entry = typeof type === "string" ? this.entries.get(type) : undefined;
    if (entry === undefined) this.fromJSON(json, where);
    else parseStrict(this.kind, entry.schema, json, where);
  }

  /** The JSON Schema of every registered kind (one `oneOf`). */
  jsonSchema(): unknown {
    const schemas = [...this.entries.values()].map((e) => e.schema as z.ZodType);
    if (schemas.length === 0) return {};
    return z.toJSONSchema(z.union(schemas as [z.ZodType, ...z.ZodType[]]), {
      target: "draft-2020-12",
      io: "input",
    });
  }
}
