import { z } from "zod";
import { WeftError } from "../core/errors.ts";
import { assertNoCredentials } from "./credentials.ts";
import type { SchemaKind } from "./schemas.ts";
import { parseStrict } from "./validate.ts";

/**
 * One command-line flag of a kind. The CLI derives its options from these
 * (`--dir <path>`, help "local: the directory …") and the registry derives the
 * constructor from flags ({@link TypeRegistry.fromFlags}), so a kind names its
 * flags once, in its own file.
 */
export interface KindFlag {
  /** Commander's spelling: `--dir <path>` (a value), `--path-style` (true), `--no-hostname-label` (false). */
  readonly flag: string;
  /** Help text; the CLI puts the kind's type in front ("s3: the bucket"). */
  readonly help: string;
  /** The kind cannot be made without it. @default false */
  readonly required?: boolean;
}

/** A flag's key in commander's parsed options: `--no-hostname-label` → `hostnameLabel`. */
export function flagKey(flag: KindFlag): string {
  const long = /--(?:no-)?([a-z][a-z0-9-]*)/.exec(flag.flag)?.[1] ?? "";
  return long.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** What a flag sets: a string (`--dir <path>`), `true` (`--path-style`) or `false` (`--no-x`). */
export function flagValue(flag: KindFlag): "string" | true | false {
  if (flag.flag.includes("<")) return "string";
  return !/--no-/.test(flag.flag);
}

/**
 * One kind of a pluggable interface (a storage, environment or result backend
 * kind): everything weft knows of it, in the kind's own file. The registry
 * builds every object of the kind through it.
 */
export interface RegistryEntry<T, J = unknown, C = unknown, F = Readonly<Record<string, unknown>>> {
  readonly type: string;
  /** A strict zod object schema with `type` and `schemaVersion` literals. */
  readonly schema: z.ZodType<J>;
  /** The constructor from valid JSON. */
  readonly create: (json: J) => T;
  /** What every object of the kind can do, known without making one (e.g. a storage's `remote`). */
  readonly capabilities?: C;
  /**
   * The kind's command-line flags, by the option key they set. The CLI derives
   * its options and their help from them, and {@link TypeRegistry.fromFlags}
   * checks flag values against them (only the kind's own, strings non-empty,
   * required ones present) before calling {@link fromFlags}.
   */
  readonly flags?: Readonly<Record<string, KindFlag>>;
  /** The constructor from flag values (checked against {@link flags} when the kind declares them). */
  readonly fromFlags?: (options: F) => T;
}

/**
 * Turns `{ type, … }` JSON back into an object of a pluggable interface
 * (storages, environments): refuses an unknown `type` listing the known ones,
 * and a malformed field naming it.
 */
export class TypeRegistry<T, C = unknown, F extends object = Readonly<Record<string, unknown>>> {
  private readonly entries = new Map<string, RegistryEntry<T, never, C, F>>();

  constructor(readonly kind: Extract<SchemaKind, "storage" | "environment" | "result">) {}

  register<J>(entry: RegistryEntry<T, J, C, F>): void {
    if (this.entries.has(entry.type)) {
      throw new WeftError(
        "INVALID_SERIALIZED",
        `${this.kind} type "${entry.type}" is registered twice`,
      );
    }
    this.entries.set(entry.type, entry as unknown as RegistryEntry<T, never, C, F>);
  }

  /** The capabilities a kind declares, or undefined for an unknown kind or one that declares none. */
  capabilities(type: string): C | undefined {
    return this.entries.get(type)?.capabilities;
  }

  /** Every kind's flags, in registration order: `[type, key, flag]`. */
  flags(): [type: string, key: string, flag: KindFlag][] {
    return [...this.entries.values()].flatMap((entry) =>
      Object.entries(entry.flags ?? {}).map(([key, flag]): [string, string, KindFlag] => [
        entry.type,
        key,
        flag,
      ]),
    );
  }

  /**
   * Makes an object of kind `type` from loose options (command-line flags),
   * checking them against the kind's flags: an option the kind does not take is
   * refused by name, a string must not be empty, a required one must be there.
   */
  fromFlags(type: string, options: F): T {
    const entry = this.entries.get(type);
    if (entry?.fromFlags === undefined) {
      throw new WeftError(
        "UNKNOWN_TYPE",
        `unknown ${this.kind} kind "${type}" (known: ${this.types().join(", ")})`,
      );
    }
    if (entry.flags === undefined) return entry.fromFlags(options);
    const flags = entry.flags;
    const given = options as Readonly<Record<string, unknown>>;
    const what = `${type} ${this.kind}`;
    const keys = Object.keys(flags);
    for (const key of Object.keys(given)) {
      if (given[key] !== undefined && !keys.includes(key)) {
        throw new WeftError("USAGE", `${what} has no option ${kebab(key)}`, {
          hint: `its options: ${keys.map(kebab).join(", ") || "none"}`,
        });
      }
    }
    for (const [key, flag] of Object.entries(flags)) {
      const value = given[key];
      if (value === undefined) {
        if (flag.required === true) {
          throw new WeftError("USAGE", `${what} needs ${key}`, { hint: `pass --${kebab(key)} …` });
        }
      } else if (flagValue(flag) === "string" && (typeof value !== "string" || value === "")) {
        throw new WeftError("USAGE", `${what}: ${key} must be a non-empty string`);
      }
    }
    return entry.fromFlags(options);
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

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}
