import { createHash } from "node:crypto";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join, posix, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { z } from "zod";
import { WeftError } from "../core/errors.ts";
import { Flow } from "../core/flow.ts";
import { flowsOfModule } from "../engine/flow-loader.ts";
import { createFlowRunner, type FlowRunner } from "../engine/flow-runner.ts";
import { importUserModule } from "../engine/user-modules.ts";
import { defaultCacheDir, ensureRuntimeLink } from "./bundle/bundle-cache.ts";
import { createEnvRunner } from "./env-runner.ts";
import {
  COMMIT_ID,
  checkoutCommit,
  fileInCheckout,
  type GitRemote,
  resolveRef,
} from "./git/git-checkout.ts";
import {
  type EnvRunner,
  formatLocation,
  nameOption,
  parseLocation,
  type SerializedStorage,
  STORAGE_NAME_FLAG,
  type Storage,
  type StorageKind,
  stringOption,
} from "./storage.ts";
import { guardStorage } from "./storage-guard.ts";

/** Options of git storage. */
export interface GitStorageOptions {
  /**
   * The repository: a URL (`https://…`, `ssh://…`, `git@host:owner/repo.git`,
   * `file://…`) or a local path (made absolute). Credentials never go here: git's
   * own credential helpers and ssh keys are used where the flow is built and run.
   */
  repo: string;
  /** Branch, tag, `HEAD` or full commit id; `build()` resolves it to a commit. @default "HEAD" */
  ref?: string;
  /** The flow file, relative to the repository root (e.g. `flows/etl.ts`). */
  path: string;
  /** Shown to people. @default repo */
  name?: string;
  /** Where checkouts are cached, one directory per commit. @default $WEFT_HOME/cache */
  cacheDir?: string;
  /** The commit to load; `build()` records it. @default resolved from `ref` by build (or at load) */
  commit?: string;
  /** Each git command (ls-remote, fetch) is killed after this long. @default 60000 */
  timeoutMs?: number;
  /** Flow name → location, as recorded by earlier builds. */
  flows?: Record<string, string>;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** The JSON of a git storage. */
export const gitStorageSchema = z.strictObject({
  type: z.literal("git"),
  schemaVersion: z.literal(1),
  name: z.string().min(1).optional(),
  repo: z.string().min(1),
  ref: z.string().min(1),
  path: z.string().min(1),
  commit: z.string().regex(COMMIT_ID, "a full commit id (40 hex digits)").optional(),
  timeoutMs: z.number().int().positive().optional(),
  flows: z.record(z.string(), z.string()),
});

/** Validated, normalized options. */
interface ResolvedGitStorageOptions {
  readonly repo: string;
  readonly local: boolean;
  readonly ref: string;
  readonly path: string;
  readonly name: string | undefined;
  readonly cacheDir: string;
  readonly commit: string | undefined;
  readonly timeoutMs: number | undefined;
  readonly flows: Record<string, string>;
}

/**
 * Flow files kept in a git repository (script-based: the code is the file at a
 * commit, nothing is uploaded). `build` resolves `ref` to a commit, checks that
 * the file there exports the flows, and records the commit, so every later load
 * runs exactly that code even after the branch moves on.
 */
class GitStorage implements Storage {
  readonly type = "git";
  readonly labels: string[] = [];
  readonly shareable = true;
  readonly remote: boolean;
  readonly name: string;
  private readonly flowMap: Record<string, string>;
  /** Flows added in this process: their graphs are compared with the committed code at build. */
  private readonly added = new Map<string, Flow<unknown>>();
  private commit: string | undefined;

  constructor(private readonly options: ResolvedGitStorageOptions) {
    this.remote = !options.local;
    this.name = options.name ?? options.repo;
    this.flowMap = { ...options.flows };
    this.commit = options.commit;
  }

  get flows(): Readonly<Record<string, string>> {
    return this.flowMap;
  }

  addFlow(flow: Flow<unknown>): string {
    const location = formatLocation(this.options.path, flow.name);
    this.flowMap[flow.name] = location;
    this.added.set(flow.name, flow);
    return location;
  }

  contains(flow: Flow<unknown> | string): boolean {
    return Object.hasOwn(this.flowMap, typeof flow === "string" ? flow : flow.name);
  }

  async build(): Promise<Storage> {
    const commit = this.options.commit ?? (await resolveRef(this.gitRemote(), this.options.ref));
    const flows = await this.importAt(commit, this.options.path);
    for (const name of Object.keys(this.flowMap)) {
      const found = flows.find((f) => f.name === name);
      if (found === undefined) throw this.missing(name, commit, flows);
      const mine = this.added.get(name);
      if (mine !== undefined) this.checkSameGraph(mine, found, commit);
    }
    this.commit = commit;
    return this;
  }

  async getRunner(location: string): Promise<FlowRunner> {
    const { artifact, flowName } = parseLocation(location, this.describe());
    if (artifact !== this.options.path) {
      throw new WeftError(
        "STORAGE_LOCATION_INVALID",
        `${this.describe()}: location ${location} names ${artifact}, but this storage keeps ${this.options.path}`,
      );
    }
    const commit = this.commit ?? (await resolveRef(this.gitRemote(), this.options.ref));
    const flows = await this.importAt(commit, artifact);
    const flow = flows.find((f) => f.name === flowName);
    if (flow === undefined) throw this.missing(flowName, commit, flows);
    return createFlowRunner(flow);
  }

  getEnvRunner(location: string): EnvRunner {
    return createEnvRunner(this, location);
  }

  toJSON(): SerializedStorage {
    const { name, repo, ref, path, timeoutMs } = this.options;
    return {
      type: this.type,
      schemaVersion: 1,
      ...(name === undefined ? {} : { name }),
      repo,
      ref,
      path,
      ...(this.commit === undefined ? {} : { commit: this.commit }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      flows: { ...this.flowMap },
    };
  }

  /**
   * Checks out `commit` into the cache (no git call when it is there already),
   * imports the file at `path` and returns the flows it exports.
   */
  private async importAt(commit: string, path: string): Promise<Flow<unknown>[]> {
    const remote = this.gitRemote();
    const dir = join(
      remote.workDir,
      createHash("sha256").update(this.options.repo).digest("hex").slice(0, 16),
      commit,
    );
    await checkoutCommit(remote, commit, dir);
    const where = `${this.describe()}: ${path} at commit ${commit.slice(0, 12)}`;
    const file = fileInCheckout(dir, path, where);
    ensureRuntimeLink(this.options.cacheDir);
    let namespace: Record<string, unknown>;
    try {
      namespace = await importUserModule(pathToFileURL(file).href);
    } catch (error) {
      throw new WeftError(
        "FLOW_MODULE_IMPORT_FAILED",
        `${where}: import failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    const flows = flowsOfModule(namespace, where);
    // A flow made by another copy of weft runs, but its tasks' context() and the
    // like talk to that copy and fail: refuse it with the cause instead.
    if (flows.some((f) => !(f instanceof Flow))) {
      throw new WeftError(
        "FLOW_MODULE_IMPORT_FAILED",
        `${where}: the file was loaded as CommonJS (a package.json of the repository has no "type": "module"), so its import of "weftflow" got a second copy of weft`,
        {
          hint: 'add "type": "module" to the repository\'s package.json, or name the flow file .mts',
        },
      );
    }
    return flows;
  }

  /** Where git commands run: `<cacheDir>/git`, marked as ES modules (see {@link ensureModuleScope}). */
  private gitRemote(): GitRemote {
    const workDir = join(this.options.cacheDir, "git");
    ensureModuleScope(workDir);
    return {
      repo: this.options.repo,
      timeoutMs: this.options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      source: this.describe(),
      workDir,
    };
  }

  /**
   * The graph registered must be the graph that runs: a flow added from a
   * working copy with uncommitted (or unpushed) changes to its tasks would
   * otherwise be registered with one shape and run with another.
   */
  private checkSameGraph(mine: Flow<unknown>, committed: Flow<unknown>, commit: string): void {
    const here = new Set(shapeOf(mine));
    const there = new Set(shapeOf(committed));
    const onlyHere = [...here].filter((s) => !there.has(s));
    const onlyThere = [...there].filter((s) => !here.has(s));
    if (onlyHere.length === 0 && onlyThere.length === 0) return;
    const list = (xs: string[]) => (xs.length ? xs.slice(0, 5).join(", ") : "none");
    throw new WeftError(
      "STORAGE_BUILD_FAILED",
      `${this.describe()}: flow "${mine.name}" in ${this.options.path} at commit ${commit.slice(0, 12)} has another graph than the flow being built (tasks only here: ${list(onlyHere)}; only at the commit: ${list(onlyThere)})`,
      { hint: `commit and push the changes to ${this.options.path}, then build again` },
    );
  }

  private missing(flowName: string, commit: string, flows: readonly Flow<unknown>[]): WeftError {
    const names = flows.map((f) => f.name);
    return new WeftError(
      "STORAGE_FLOW_MISSING",
      `${this.describe()}: ${this.options.path} at commit ${commit.slice(0, 12)} has no flow named "${flowName}"`,
      { hint: names.length ? `its flows: ${names.join(", ")}` : "it exports no flow" },
    );
  }

  private describe(): string {
    return `git storage ${this.name}`;
  }
}

/** Each task as `slug<upstream slugs`, the part of a graph that must match between registration and run. */
function shapeOf(flow: Flow<unknown>): string[] {
  const nodes = flow.graph.nodes;
  return nodes.map(
    (node) =>
      `${node.slug}${node.mapped ? "[]" : ""}<${node.upstream
        .map((u) => nodes[u]?.slug)
        .sort()
        .join(",")}`,
  );
}

/**
 * Checked-out files are TypeScript modules that `import … from "weftflow"`. With no
 * package.json of the repository's own above them, Node (and tsx) would treat
 * them as CommonJS, and `require("weftflow")` would load a second copy of weft
 * beside the running one (its own task context, its own engine). A
 * `{"type":"module"}` package.json at the top of the checkouts keeps them ES
 * modules, which share the running weft through the cache's runtime link.
 */
function ensureModuleScope(dir: string): void {
  const file = join(dir, "package.json");
  if (existsSync(file)) return;
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, '{ "type": "module", "private": true }\n');
  renameSync(tmp, file);
}

/** A URL (scheme:// or git's scp-like user@host:path) rather than a local path. */
function isUrl(repo: string): boolean {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(repo)) return true;
  // git reads "host:path" as ssh when the colon comes before any slash (but not "C:\…").
  return /^[^/\\]+:/.test(repo) && !/^[A-Za-z]:[\\/]/.test(repo);
}

function invalid(message: string, hint?: string): WeftError {
  return new WeftError(
    "INVALID_FLOW_OPTIONS",
    `git storage: ${message}`,
    hint === undefined ? undefined : { hint },
  );
}

/** Whether `text` holds a control character (never part of a URL, path or ref). */
function hasControl(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** Validates and normalizes the options once, at the boundary. */
function resolveOptions(options: GitStorageOptions): ResolvedGitStorageOptions {
  if (typeof options !== "object" || options === null) throw invalid("options are required");
  const { repo, ref = "HEAD", path, name, cacheDir, commit, timeoutMs, flows = {} } = options;
  if (typeof repo !== "string" || repo.trim() === "" || hasControl(repo)) {
    throw invalid("repo must be a repository URL or a local path");
  }
  if (repo.startsWith("-")) throw invalid(`repo ${JSON.stringify(repo)} looks like an option`);
  const url = isUrl(repo);
  if (url && /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(repo)) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(repo);
    } catch {
      throw invalid(`repo ${JSON.stringify(repo)} is not a valid URL`);
    }
    if (parsed.password !== "" || (/^https?:$/.test(parsed.protocol) && parsed.username !== "")) {
      throw new WeftError(
        "CREDENTIAL_IN_CONFIG",
        "git storage: repo carries credentials in its URL; serialized configuration may only name where a secret comes from",
        {
          hint: "drop the user/token from the URL and configure git's credential helper (or an ssh key) where flows are built and run",
        },
      );
    }
  }
  if (
    typeof ref !== "string" ||
    ref === "" ||
    ref.startsWith("-") ||
    /[\s~^:?*[\\]|\.\./.test(ref)
  ) {
    throw invalid(`ref ${JSON.stringify(ref)} is not a branch, tag, HEAD or commit id`);
  }
  if (typeof path !== "string" || path === "" || hasControl(path)) {
    throw invalid("path must name the flow file, relative to the repository root");
  }
  const normalized = posix.normalize(path.replaceAll("\\", "/"));
  if (
    normalized.startsWith("/") ||
    /^[A-Za-z]:/.test(normalized) ||
    normalized === "." ||
    normalized.split("/").includes("..")
  ) {
    throw new WeftError(
      "STORAGE_LOCATION_ESCAPE",
      `git storage: path ${JSON.stringify(path)} points outside the repository`,
      { hint: "give the flow file's path relative to the repository root, without .." },
    );
  }
  if (
    commit !== undefined &&
    (typeof commit !== "string" || !COMMIT_ID.test(commit.toLowerCase()))
  ) {
    throw invalid(`commit ${JSON.stringify(commit)} is not a full commit id (40 hex digits)`);
  }
  if (timeoutMs !== undefined && (!Number.isInteger(timeoutMs) || timeoutMs <= 0)) {
    throw invalid(`timeoutMs must be a positive integer (got ${String(timeoutMs)})`);
  }
  if (name !== undefined && (typeof name !== "string" || name === "")) {
    throw invalid("name must be a non-empty string");
  }
  const local = !url || repo.startsWith("file://");
  return {
    repo: url ? repo : resolve(repo),
    local,
    ref,
    path: normalized,
    name,
    cacheDir: resolve(cacheDir ?? defaultCacheDir()),
    commit: commit?.toLowerCase(),
    timeoutMs,
    flows,
  };
}

/**
 * Keeps flows as files in a git repository. `build()` resolves `ref` to a
 * commit and records it; loads check out that commit (cached per commit under
 * `$WEFT_HOME/cache/git`) and import the file, whose `import … from "weftflow"`
 * resolves to the weft that loads it. Other files of the repository are
 * importable from the flow file; packages must be installed where it runs.
 * @example
 * const storage = createGitStorage({ repo: "https://github.com/acme/flows.git", ref: "main", path: "flows/etl.ts" });
 * storage.addFlow(etl); // "flows/etl.ts#etl"
 * await storage.build(); // records the commit main points at
 */
export function createGitStorage(options: GitStorageOptions): Storage {
  return guardStorage(new GitStorage(resolveOptions(options)));
}

/** Rebuilds a git storage from validated JSON. */
export function gitStorageFromJSON(json: z.infer<typeof gitStorageSchema>): Storage {
  return createGitStorage({
    repo: json.repo,
    ref: json.ref,
    path: json.path,
    flows: json.flows,
    ...(json.name === undefined ? {} : { name: json.name }),
    ...(json.commit === undefined ? {} : { commit: json.commit }),
    ...(json.timeoutMs === undefined ? {} : { timeoutMs: json.timeoutMs }),
  });
}

/** The git storage kind. */
export const gitStorageKind: StorageKind<z.infer<typeof gitStorageSchema>> = {
  type: "git",
  schema: gitStorageSchema,
  create: gitStorageFromJSON,
  capabilities: { shareable: true, remote: true },
  flags: {
    repo: { flag: "--repo <url>", help: "repository URL or local path", required: true },
    ref: { flag: "--ref <ref>", help: "branch, tag or commit (default HEAD)" },
    path: {
      flag: "--path <file>",
      help: "path of the flow file in the repository",
      required: true,
    },
    name: STORAGE_NAME_FLAG,
  },
  fromFlags: (options) =>
    createGitStorage({
      repo: options.repo as string,
      path: options.path as string,
      ...stringOption(options, "ref", "ref"),
      ...nameOption(options),
    }),
};
