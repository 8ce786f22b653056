// Consumer projects for the package tests: weft packed by `npm pack`, the tarball
// installed by `npm install` into temporary projects outside the repository, and
// real commands (npm, npx, node) run there as a user runs them. Every command
// runs in its own process group (npx → sh → node), which is what gets killed:
// by its id, SIGTERM then SIGKILL, on a timeout or when the file ends.
import assert from "node:assert/strict";
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
} from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { CliResult } from "../support/cli-result.ts";
import {
  startCommand,
  stopAll as stopProcesses,
  type WeftProcess,
} from "../support/weft-process.ts";

/** The repository root: the weftflow package that is packed. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** The fixture projects, copied into a temporary directory before their install. */
export const packageFixtures = join(repoRoot, "test", "fixtures", "package");

/** weftflow's package.json, as it is packed. */
export const packageManifest = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as {
  readonly version: string;
  readonly bin: Readonly<Record<string, string>>;
  readonly types?: string;
  readonly exports: Readonly<Record<string, unknown>>;
  readonly devDependencies: Readonly<Record<string, string>>;
};

/** What a finished command left behind. */
export type CommandResult = CliResult;

export interface CommandOptions {
  readonly cwd: string;
  /** Variables added to (or, as undefined, removed from) the consumer's environment. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Kill the command's process group and fail after this long. @default 120000 */
  readonly timeoutMs?: number;
}

/**
 * Starts `command ...args` as a consumer would, in its own process group: npx does
 * not pass SIGTERM on (it exits, and the command it started runs on), so signals go
 * to the whole group, as a terminal's Ctrl-C does. The environment is the test's
 * without npm's run-script variables, the test runner's and weft's settings, with
 * this Node.js first on PATH (see test/support/weft-process.ts: childEnv).
 */
export function start(
  command: string,
  args: readonly string[],
  options: CommandOptions,
): WeftProcess {
  return startCommand(command, args, {
    cwd: options.cwd,
    env: { NPM_CONFIG_UPDATE_NOTIFIER: "false", ...options.env },
    group: true,
    timeoutMs: options.timeoutMs ?? 120_000,
  });
}

function describeCommand(command: string, args: readonly string[], result: CommandResult): string {
  const tail = (text: string) => text.split("\n").slice(-40).join("\n");
  return `${command} ${args.join(" ")} (exit ${result.code ?? result.signal})\n--- stdout:\n${tail(result.stdout)}\n--- stderr:\n${tail(result.stderr)}`;
}

/** Runs `command ...args` to its end (killed and failed past its timeout). */
export function run(
  command: string,
  args: readonly string[],
  options: CommandOptions,
): Promise<CommandResult> {
  return start(command, args, options).done;
}

/** Like {@link run}, and fails unless the command exits 0. */
export async function runOk(
  command: string,
  args: readonly string[],
  options: CommandOptions,
): Promise<CommandResult> {
  const result = await run(command, args, options);
  assert.equal(result.code, 0, describeCommand(command, args, result));
  return result;
}

/** What a command printed, for assertion messages. */
export function output(result: CommandResult): string {
  return `\n--- stdout:\n${result.stdout}\n--- stderr:\n${result.stderr}`;
}

/** Stops every process started here that is still running. */
export async function stopAll(): Promise<void> {
  await stopProcesses(5000);
}

/**
 * Why the npm registry cannot be used (undefined when `npm ping` answers): the
 * installs take every package from npm's cache, but npm still asks the
 * registry about what the cache lacks.
 */
export async function registryUnreachable(cwd: string): Promise<string | undefined> {
  const result = await run("npm", ["ping", "--fetch-timeout=10000", "--fetch-retries=0"], {
    cwd,
    timeoutMs: 30_000,
  }).catch((error: Error) => ({ code: -1, stderr: error.message.split("\n")[0] ?? "" }));
  if (result.code === 0) return undefined;
  // npm says `npm error code ECONNREFUSED`, …, then the line that explains (FetchError: …).
  const why = result.stderr
    .split("\n")
    .filter((line) => line.startsWith("npm error ") || !line.startsWith("npm "))
    .map((line) => line.replace(/^npm error /, ""))
    .find((line) => /\S/.test(line) && !/^(code|syscall|errno) |^\s/.test(line));
  return `the npm registry is unreachable (npm ping: ${why ?? `exit ${result.code}`})`;
}

function newest(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let latest = 0;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

/**
 * Fails unless dist/ holds a build (JavaScript and declarations) newer than every
 * file it is built from: the same rule as `node scripts/build.js --if-stale`,
 * which `npm test` runs before the package tests start.
 */
export function assertDistFresh(): void {
  const sources = Math.max(
    newest(join(repoRoot, "src")),
    newest(join(repoRoot, "package.json")),
    newest(join(repoRoot, "scripts", "build.js")),
  );
  const hint = "run `npm run build` (`npm test -- package` builds it before the tests start)";
  for (const stamp of ["dist/cli.js", "dist/index.js", "dist/types/index.d.ts"]) {
    const path = join(repoRoot, stamp);
    assert.ok(existsSync(path), `${stamp} is missing, so the package would be incomplete: ${hint}`);
    assert.ok(
      statSync(path).mtimeMs > sources,
      `${stamp} is older than src/ (or package.json, scripts/build.js): ${hint}`,
    );
  }
}

/** A file of the tarball, as `npm pack --json` lists it. */
export interface PackedFile {
  readonly path: string;
  readonly size: number;
  readonly mode: number;
}

/** The tarball and what `npm pack --json` says is in it. */
export interface Packed {
  readonly tarball: string;
  readonly files: readonly PackedFile[];
}

/**
 * Packs the repository into `dir`. With --ignore-scripts, so that `prepare`
 * does not rebuild dist/ while other test files run weft from it: the tarball
 * holds the build `npm test` made (checked fresh first).
 */
export async function packWeft(dir: string): Promise<Packed> {
  assertDistFresh();
  const result = await runOk(
    "npm",
    ["pack", "--ignore-scripts", "--json", "--pack-destination", dir],
    { cwd: repoRoot, timeoutMs: 120_000 },
  );
  const [packed] = JSON.parse(result.stdout) as { filename: string; files: PackedFile[] }[];
  assert.ok(packed, `npm pack --json listed no package${output(result)}`);
  return { tarball: join(dir, packed.filename), files: packed.files };
}

/**
 * Copies the fixture project `name` into `dir` and installs the tarball (and
 * `packages`) there, the way a user's `npm install weftflow` would, but fast:
 *
 * - `--prefer-offline`: every package comes from npm's cache, which holds all of
 *   them (the repository's own install filled it), without asking the registry
 *   whether they are still current.
 * - `--ignore-scripts`: better-sqlite3's install script would compile its native
 *   binding (~2 min here: its prebuilt binaries come from github.com, which this
 *   machine cannot reach). Instead the binding the repository's install already
 *   compiled is copied in: the consumer resolves the same pinned better-sqlite3
 *   (checked), and the same Node.js runs both (the same ABI). esbuild needs no
 *   script: its binary is the optional dependency @esbuild/<platform>, which npm
 *   installs either way ({@link checkNativeDependencies} proves both work).
 */
export async function installProject(
  name: string,
  dir: string,
  tarball: string,
  packages: readonly string[] = [],
): Promise<void> {
  cpSync(join(packageFixtures, name), dir, { recursive: true });
  await runOk(
    "npm",
    [
      "install",
      tarball,
      ...packages,
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
    ],
    { cwd: dir, timeoutMs: 300_000 },
  );
  const repoSqlite = dirname(createRequire(import.meta.url).resolve("better-sqlite3/package.json"));
  const consumerSqlite = dirname(
    createRequire(join(dir, "node_modules", "weftflow", "package.json")).resolve(
      "better-sqlite3/package.json",
    ),
  );
  const versionOf = (root: string) =>
    (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;
  assert.equal(
    versionOf(consumerSqlite),
    versionOf(repoSqlite),
    "the consumer's better-sqlite3 must be the repository's version to reuse its compiled binding",
  );
  const binding = join("build", "Release", "better_sqlite3.node");
  mkdirSync(dirname(join(consumerSqlite, binding)), { recursive: true });
  copyFileSync(join(repoSqlite, binding), join(consumerSqlite, binding));
  await checkNativeDependencies(dir);
}

/**
 * Fails unless weftflow's native dependencies load in the consumer project:
 * esbuild (which `weft register` bundles with) transforms TypeScript, and
 * better-sqlite3 (the server's database) opens a database.
 */
async function checkNativeDependencies(dir: string): Promise<void> {
  const script = `
    const { createRequire } = require("node:module");
    const fromWeft = createRequire(require.resolve("weftflow/package.json"));
    const code = fromWeft("esbuild").transformSync("const n: number = 1", { loader: "ts" }).code;
    if (code.trim() !== "const n = 1;") throw new Error("esbuild gave " + code);
    const Database = fromWeft("better-sqlite3");
    const db = new Database(":memory:");
    if (db.prepare("select 41 + 1 as n").get().n !== 42) throw new Error("better-sqlite3 failed");
    db.close();`;
  await runOk(process.execPath, ["-e", script], { cwd: dir, timeoutMs: 60_000 });
}
