import { mkdir, readFile, realpath, rename, stat, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, resolve, sep } from "node:path";
import { z } from "zod";
import { WeftError } from "../../core/errors.ts";
import { weftHome } from "../../core/home.ts";
import {
  checkResultLocation,
  checkResultTemplate,
  DEFAULT_RESULT_TEMPLATE,
  type ResultBackend,
  type ResultBackendKind,
  type ResultContext,
  renderResultLocation,
} from "../../core/results.ts";
import {
  decodeResult,
  encodeResult,
  RESULT_SERIALIZERS,
  type ResultSerializer,
} from "./result-serializers.ts";

/** Options of the local result backend. */
export interface LocalResultBackendOptions {
  /** Where results are kept. @default $WEFT_HOME/results */
  directory?: string;
  /** Location template. @default "{flowSlug}/{taskSlug}/{mapIndex}/{flowRunId}" (`{flowName}`, `{taskName}` are fields too) */
  template?: string;
  /** @default "json" */
  serializer?: ResultSerializer;
}

/** The JSON of a local result backend. */
export const localResultBackendSchema = z.strictObject({
  type: z.literal("local"),
  schemaVersion: z.literal(1),
  directory: z.string().min(1),
  template: z.string().min(1),
  serializer: z.enum(RESULT_SERIALIZERS),
});

/** Results as files under a directory (written atomically: a crash never leaves half a result). */
class LocalResultBackend implements ResultBackend {
  readonly type = "local";
  readonly directory: string;
  readonly template: string;
  readonly serializer: ResultSerializer;

  constructor(options: LocalResultBackendOptions) {
    const dir = options.directory ?? join(weftHome(), "results");
    this.directory = isAbsolute(dir) ? dir : resolve(dir);
    this.template = options.template ?? DEFAULT_RESULT_TEMPLATE;
    this.serializer = options.serializer ?? "json";
    checkResultTemplate(this.template);
    if (!(RESULT_SERIALIZERS as readonly string[]).includes(this.serializer)) {
      throw new WeftError(
        "INVALID_FLOW_OPTIONS",
        `unknown result serializer ${JSON.stringify(this.serializer)} (known: ${RESULT_SERIALIZERS.join(", ")})`,
      );
    }
  }

  get name(): string {
    return this.directory;
  }

  async write(value: unknown, where: ResultContext | string): Promise<string> {
    const location = typeof where === "string" ? where : renderResultLocation(this.template, where);
    checkResultLocation(location);
    const bytes = encodeResult(value, this.serializer, `result at ${location}`);
    const path = join(this.directory, location);
    const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await this.parentInside(location);
    try {
      await mkdir(dirname(path), { recursive: true });
      await writeFile(tmp, bytes);
      await rename(tmp, path);
    } catch (error) {
      throw new WeftError(
        "RESULT_WRITE_FAILED",
        `cannot write the result at ${location} in ${this.directory}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    return location;
  }

  async read(location: string): Promise<unknown> {
    const path = await this.inside(location);
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (error) {
      throw new WeftError(
        "RESULT_UNREADABLE",
        `cannot read the result at ${location} in ${this.directory}: ${(error as Error).message}`,
        {
          cause: error,
        },
      );
    }
    return decodeResult(bytes, `the result at ${location} in ${this.directory}`);
  }

  async exists(location: string): Promise<boolean> {
    let path: string;
    try {
      path = await this.inside(location);
    } catch (error) {
      if ((error as WeftError).code === "RESULT_UNREADABLE") return false;
      throw error;
    }
    // A directory is where results are, not one.
    return (await stat(path).catch(() => undefined))?.isFile() ?? false;
  }

  toJSON(): { type: string; schemaVersion: number } & Record<string, unknown> {
    return {
      type: this.type,
      schemaVersion: 1,
      directory: this.directory,
      template: this.template,
      serializer: this.serializer,
    };
  }

  /**
   * Refuses a write whose directory is reached through a link that leads
   * outside the directory (checked on the nearest directory that exists, before
   * anything is created, so nothing is made outside either).
   */
  private async parentInside(location: string): Promise<void> {
    const root = await realpath(this.directory).catch(() => undefined);
    // No root yet: mkdir makes it and everything below it, so no link can be on the way.
    if (root === undefined) return;
    let dir = dirname(join(this.directory, location));
    while (dir !== this.directory) {
      const real = await realpath(dir).catch(() => undefined);
      if (real !== undefined) {
        if (real !== root && !real.startsWith(root + sep)) {
          throw new WeftError(
            "RESULT_LOCATION_ESCAPE",
            `the result at ${location} would be written outside ${this.directory} (through ${real})`,
          );
        }
        return;
      }
      dir = dirname(dir);
    }
  }

  /** The real path of a location, refused when a link leads outside the directory. */
  private async inside(location: string): Promise<string> {
    checkResultLocation(location);
    const path = join(this.directory, location);
    let real: string;
    let root: string;
    try {
      [real, root] = await Promise.all([realpath(path), realpath(this.directory)]);
    } catch (error) {
      throw new WeftError("RESULT_UNREADABLE", `no result at ${location} in ${this.directory}`, {
        cause: error,
      });
    }
    if (!real.startsWith(root + sep)) {
      throw new WeftError(
        "RESULT_LOCATION_ESCAPE",
        `the result at ${location} resolves outside ${this.directory} (to ${real})`,
      );
    }
    return real;
  }
}

/**
 * Keeps task results as files in a directory.
 * @example
 * flow("etl", build, { result: createLocalResultBackend({ directory: "/srv/weft/results", serializer: "binary" }) })
 */
export function createLocalResultBackend(options: LocalResultBackendOptions = {}): ResultBackend {
  return new LocalResultBackend(options);
}

/** Rebuilds a local result backend from validated JSON. */
export function localResultBackendFromJSON(
  json: z.infer<typeof localResultBackendSchema>,
): ResultBackend {
  return createLocalResultBackend({
    directory: json.directory,
    template: json.template,
    serializer: json.serializer,
  });
}

/** The local result backend kind: files on this machine, which its other processes read too. */
export const localResultBackendKind: ResultBackendKind<z.infer<typeof localResultBackendSchema>> = {
  type: "local",
  schema: localResultBackendSchema,
  create: localResultBackendFromJSON,
  capabilities: { shareable: true, remote: false },
};
