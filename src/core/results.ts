import type { z } from "zod";
import { WeftError } from "./errors.ts";
import { slugify } from "./names.ts";

/** Where a task run's result goes: the fields a location template can use. */
export interface ResultContext {
  readonly flowName: string;
  readonly flowRunId: string;
  readonly taskSlug: string;
  readonly taskName: string;
  /** The child's index for a mapped task; undefined otherwise. */
  readonly mapIndex: number | undefined;
}

/**
 * Persists task results (PIN-16's Result, reshaped): so that a crashed run
 * resumes from its finished tasks, retries elsewhere can re-read their inputs,
 * large values cross processes by reference, and caches outlive a process.
 * Implementations live in `engine/results/`; every location stays inside the
 * backend's root.
 */
export interface ResultBackend {
  /** Registry key, e.g. "local". */
  readonly type: string;
  /** A name for people (the directory, the bucket). */
  readonly name: string;
  /** The location template, e.g. `{flowSlug}/{taskSlug}/{mapIndex}/{flowRunId}`. */
  readonly template: string;
  /**
   * Persists `value` at the location `where` names (a rendered template for a
   * task run, or an explicit location) and returns that location. Rejects
   * with RESULT_NOT_SERIALIZABLE when the serializer cannot carry the value.
   */
  write(value: unknown, where: ResultContext | string): Promise<string>;
  /** The value stored at `location`. */
  read(location: string): Promise<unknown>;
  /** Whether something is stored at `location`. */
  exists(location: string): Promise<boolean>;
  toJSON(): { type: string; schemaVersion: number };
}

/** What every result backend of a kind can do, known from its type alone. */
export interface ResultBackendCapabilities {
  /** Another process on this machine can read what it wrote (a file, an object). */
  readonly shareable: boolean;
  /** Another machine can read what it wrote. */
  readonly remote: boolean;
}

/**
 * A result backend kind: everything weft knows of it, in the kind's own file under
 * `engine/results/` (type, JSON schema and constructor, capabilities). It has the
 * shape of serialization's `RegistryEntry` (declared here because the engine uses
 * only core); adding a kind is that file and one line in
 * `storage/result-backend-registry.ts`.
 */
export interface ResultBackendKind<J = never> {
  readonly type: string;
  /** A strict zod object schema with `type` and `schemaVersion` literals. */
  readonly schema: z.ZodType<J>;
  /** The constructor from valid JSON. */
  readonly create: (json: J) => ResultBackend;
  readonly capabilities: ResultBackendCapabilities;
}

/**
 * The default location template: one result per task run, per child, per flow
 * run, under the flow's slug (a flow's name may hold characters a path should not).
 */
export const DEFAULT_RESULT_TEMPLATE = "{flowSlug}/{taskSlug}/{mapIndex}/{flowRunId}";

const FIELDS = ["flowName", "flowSlug", "flowRunId", "taskSlug", "taskName", "mapIndex"] as const;

// The slug of the last flow name rendered: a run renders one flow's name for every task.
let lastSlug = { name: "", slug: "unnamed" };
function flowSlugOf(name: string): string {
  if (lastSlug.name !== name) lastSlug = { name, slug: slugify(name) };
  return lastSlug.slug;
}

/**
 * Renders a location template. Unknown fields are refused, and so is a result
 * that would escape the backend's root (`..`, an absolute path): a field value
 * is made safe (`/` and `\` replaced) before it is put in.
 */
export function renderResultLocation(template: string, ctx: ResultContext): string {
  const location = template.replace(/\{([^{}]*)\}/g, (_match, field: string) => {
    if (!(FIELDS as readonly string[]).includes(field)) {
      throw new WeftError(
        "INVALID_FLOW_OPTIONS",
        `result location template ${JSON.stringify(template)}: unknown field {${field}}`,
        {
          hint: `fields: ${FIELDS.map((f) => `{${f}}`).join(", ")}`,
        },
      );
    }
    const value =
      field === "mapIndex"
        ? ctx.mapIndex === undefined
          ? "-"
          : String(ctx.mapIndex)
        : field === "flowSlug"
          ? flowSlugOf(ctx.flowName)
          : ctx[field as keyof ResultContext];
    return String(value)
      .replace(/[/\\]/g, "_")
      .replace(/^\.\.?$/, "_");
  });
  checkResultLocation(location);
  return location;
}

/** Refuses a location that is empty, absolute or climbs out of the backend's root. */
export function checkResultLocation(location: string): void {
  const segments = location.split(/[\\/]/);
  if (
    location === "" ||
    location.startsWith("/") ||
    /^[A-Za-z]:/.test(location) ||
    location.includes("\0") ||
    segments.some((s) => s === ".." || s === "." || s === "")
  ) {
    throw new WeftError(
      "RESULT_LOCATION_ESCAPE",
      `result location ${JSON.stringify(location)} is not inside the result backend`,
      {
        hint: "a result location is relative, without empty, . or .. segments",
      },
    );
  }
}

/** Checks a template once (when a backend is made): every field known, no way out of the root. */
export function checkResultTemplate(template: string): void {
  renderResultLocation(template, {
    flowName: "f",
    flowRunId: "r",
    taskSlug: "t-1",
    taskName: "t",
    mapIndex: 0,
  });
  for (const field of ["{taskSlug}", "{mapIndex}"]) {
    if (!template.includes(field)) {
      throw new WeftError(
        "INVALID_FLOW_OPTIONS",
        `result location template ${JSON.stringify(template)} has no ${field}: results of different tasks or mapped children would overwrite each other`,
        { hint: `the default is ${DEFAULT_RESULT_TEMPLATE}` },
      );
    }
  }
}
