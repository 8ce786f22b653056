import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { WeftError } from "../../core/errors.ts";
import { PACKAGE_ROOT } from "../../core/package.ts";

/** One content-addressed ES module holding a flow file and what it imports (but weft). */
export interface Bundle {
  /** The module's code. */
  readonly code: string;
  /** SHA-256 of the code, hex. */
  readonly hash: string;
  /** `<hash>.mjs`: the artifact part of a location. */
  readonly file: string;
  /** Source files that went in, relative to the entry's directory. */
  readonly inputs: readonly string[];
}

/** Options of the bundler. */
export interface BundleOptions {
  /** Packages left out of the bundle, to be installed where it runs (native addons, say). @default [] */
  external?: readonly string[];
}

/** weft's own code, which must never end up inside a bundle: its source and its build. */
const WEFT_CODE = [join(PACKAGE_ROOT, "src"), join(PACKAGE_ROOT, "dist")].map((dir) => dir + sep);
const isWeftCode = (path: string) => WEFT_CODE.some((dir) => path.startsWith(dir));

// Bundled CommonJS dependencies call require(); give the ES module one.
const BANNER =
  "import { createRequire as __weftCreateRequire } from 'node:module'; const require = __weftCreateRequire(import.meta.url);";

// esbuild is loaded on first use: processes that only load bundles (weft execute) never pay for it.
let esbuild: typeof import("esbuild") | undefined;
function loadEsbuild(): typeof import("esbuild") {
  esbuild ??= createRequire(import.meta.url)("esbuild") as typeof import("esbuild");
  return esbuild;
}

/** SHA-256 of text or bytes, hex. */
export function sha256(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/**
 * Bundles the module at `moduleUrl` into one self-contained ES module with
 * esbuild. `weft` stays external, so the bundle runs on the weft of the process
 * that loads it. The same code always yields the same bytes and hash.
 */
export function bundleFlowModule(moduleUrl: string, options: BundleOptions = {}): Bundle {
  if (!moduleUrl.startsWith("file:")) {
    throw new WeftError(
      "BUNDLE_FAILED",
      `cannot bundle ${moduleUrl}: only flows defined in module files can be stored`,
    );
  }
  const entry = fileURLToPath(moduleUrl);
  const base = dirname(entry);
  let result: ReturnType<typeof import("esbuild").buildSync>;
  try {
    result = loadEsbuild().buildSync({
      entryPoints: [entry],
      absWorkingDir: base,
      bundle: true,
      platform: "node",
      format: "esm",
      target: "node20",
      write: false,
      metafile: true,
      logLevel: "silent",
      legalComments: "none",
      external: [
        "weftflow",
        "weftflow/*",
        // weft's own files are never followed (refused below): weft imports packages that no
        // bundle could hold (native addons), which would hide the real mistake.
        ...(isWeftCode(entry) ? [] : WEFT_CODE.map((dir) => `${dir}*`)),
        ...(options.external ?? []),
      ],
      banner: { js: BANNER },
    });
  } catch (error) {
    const detail = (
      error as { errors?: { text: string; location?: { file: string; line: number } | null }[] }
    ).errors
      ?.map((e) => (e.location ? `${e.location.file}:${e.location.line}: ${e.text}` : e.text))
      .join("; ");
    throw new WeftError(
      "BUNDLE_FAILED",
      `bundling ${relative(process.cwd(), entry) || entry} failed: ${detail ?? (error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  const inputs = Object.keys(result.metafile?.inputs ?? {});
  const own =
    inputs.find((input) => isWeftCode(resolve(base, input))) ??
    Object.values(result.metafile?.inputs ?? {})
      .flatMap((input) => input.imports)
      .find((i) => i.external && /^(\.|\/)/.test(i.path))?.path;
  if (own !== undefined && !isWeftCode(entry)) {
    throw new WeftError(
      "BUNDLE_FAILED",
      `${relative(process.cwd(), entry)} imports weft by a file path (${own}); a stored flow must import from "weftflow"`,
      {
        hint: 'write import { task, flow } from "weftflow", so that the bundle runs on the weft where it is loaded',
      },
    );
  }
  const code = result.outputFiles?.[0]?.text ?? "";
  const hash = sha256(code);
  return { code, hash, file: `${hash}.mjs`, inputs };
}
