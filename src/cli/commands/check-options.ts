// What `weft check` takes, shared by the command (its help) and its action, which
// the command loads only when it runs.

/** `weft check`'s options. */
export interface CheckFlags {
  /** A tsconfig.json, or a directory holding one. @default the nearest tsconfig.json above the first file */
  project?: string;
  json?: boolean;
}

/**
 * The compiler options of a project without a tsconfig.json: strict, and read as
 * Node reads the files weft runs. `allowImportingTsExtensions` because `weft run`
 * loads `import "./helper.ts"` as it is; `skipLibCheck` off so that declaration
 * files are checked too.
 */
export const STRICT_DEFAULT_OPTIONS: Readonly<Record<string, unknown>> = Object.freeze({
  strict: true,
  module: "NodeNext",
  moduleResolution: "NodeNext",
  target: "ES2022",
  allowImportingTsExtensions: true,
  noEmit: true,
  skipLibCheck: false,
});
