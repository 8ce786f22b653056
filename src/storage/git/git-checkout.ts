import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
} from "node:fs";
import { dirname, join, resolve, sep } from "node:path";
import { WeftError } from "../../core/errors.ts";
import { complaintOf, GitCommandError, runGit } from "./git-command.ts";

/** A full commit id (SHA-1, or SHA-256 for repositories in that format). */
export const COMMIT_ID = /^[0-9a-f]{40}(?:[0-9a-f]{24})?$/;

/** Where and how git commands of one storage run. */
export interface GitRemote {
  /** A URL or an absolute path. */
  readonly repo: string;
  /** Each git command is killed after this long. */
  readonly timeoutMs: number;
  /** Prefixes every message, e.g. "git storage flows". */
  readonly source: string;
  /** A directory that exists, to run commands from. */
  readonly workDir: string;
}

/**
 * The commit `ref` names in the repository, asked with `git ls-remote` (no
 * clone). A full commit id is taken as it is. Names resolve as git resolves
 * them: exact (`HEAD`, `refs/…`), then tags (peeled to their commit), then branches.
 */
export async function resolveRef(remote: GitRemote, ref: string): Promise<string> {
  if (COMMIT_ID.test(ref)) return ref;
  let stdout: string;
  try {
    ({ stdout } = await git(remote, ["ls-remote", "--", remote.repo, ref, `${ref}^{}`]));
  } catch (error) {
    throw unreachable(remote, error);
  }
  const refs = new Map<string, string>();
  for (const line of stdout.split("\n")) {
    const [id, name] = line.trim().split("\t");
    if (id !== undefined && name !== undefined && COMMIT_ID.test(id)) refs.set(name, id);
  }
  const candidates = ref === "HEAD" || ref.startsWith("refs/") ? [ref] : [];
  candidates.push(`refs/${ref}`, `refs/tags/${ref}`, `refs/heads/${ref}`);
  for (const name of candidates) {
    const id = refs.get(`${name}^{}`) ?? refs.get(name);
    if (id !== undefined) return id;
  }
  throw new WeftError(
    "STORAGE_FLOW_MISSING",
    `${remote.source}: ${remote.repo} has no ref "${ref}"`,
    {
      hint: "name a branch, a tag, HEAD or a full 40-character commit id",
    },
  );
}

/**
 * Makes `dir` hold the files of `commit` (without `.git`), unless it already
 * does. The checkout is written into a temporary sibling and renamed into
 * place, so `dir` either does not exist or is complete: two processes loading
 * the same commit never see half a checkout (the loser of the rename drops its copy).
 */
export async function checkoutCommit(
  remote: GitRemote,
  commit: string,
  dir: string,
): Promise<void> {
  if (existsSync(dir)) return;
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const tmp = mkdtempSync(join(parent, `.tmp-${commit.slice(0, 12)}-`));
  try {
    // No template: a user's init.templateDir may carry hooks that would run on checkout.
    await local(remote, commit, ["init", "-q", "--template=", tmp]);
    await fetchCommit(remote, tmp, commit);
    await local(remote, commit, [
      "-C",
      tmp,
      "-c",
      "advice.detachedHead=false",
      "-c",
      "core.hooksPath=/dev/null",
      "checkout",
      "-q",
      commit,
      "--",
    ]);
    rmSync(join(tmp, ".git"), { recursive: true, force: true });
    try {
      renameSync(tmp, dir);
    } catch (error) {
      // Another process put the same commit in place first: its copy is as good as ours.
      if (!existsSync(dir)) throw error;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Fetches one commit (shallow); servers that refuse to serve a commit by id get a full fetch. */
async function fetchCommit(remote: GitRemote, gitDir: string, commit: string): Promise<void> {
  try {
    await git(remote, [
      "-C",
      gitDir,
      "fetch",
      "-q",
      "--depth",
      "1",
      "--no-tags",
      "--",
      remote.repo,
      commit,
    ]);
    return;
  } catch (error) {
    if (!(error instanceof GitCommandError && refusedWant(error.stderr)))
      throw unreachable(remote, error);
  }
  try {
    await git(remote, [
      "-C",
      gitDir,
      "fetch",
      "-q",
      "--no-tags",
      "--",
      remote.repo,
      "+refs/heads/*:refs/remotes/origin/*",
      "+refs/tags/*:refs/tags/*",
    ]);
  } catch (error) {
    throw unreachable(remote, error);
  }
  try {
    await git(remote, ["-C", gitDir, "cat-file", "-e", `${commit}^{commit}`]);
  } catch {
    throw new WeftError(
      "STORAGE_FLOW_MISSING",
      `${remote.source}: commit ${commit} is not in ${remote.repo}`,
      {
        hint: "was the commit pushed, or removed by a force-push? Build the flow again to record a commit that exists",
      },
    );
  }
}

/** What git says when the server will not (or cannot) give the commit asked for by id. */
function refusedWant(stderr: string): boolean {
  return /not our ref|couldn't find remote ref|no such remote ref|unadvertised object|want .* not valid/i.test(
    stderr,
  );
}

/**
 * The real path of `path` inside the checkout `dir`, refusing a file that is
 * missing or resolves (through a symlink) outside the checkout.
 */
export function fileInCheckout(dir: string, path: string, where: string): string {
  const root = realpathSync(dir);
  const lexical = join(root, path);
  let real: string;
  try {
    real = realpathSync(lexical);
  } catch {
    if (danglesOutside(lexical, root)) throw escapeError(where, path, "a dangling symlink");
    throw new WeftError("STORAGE_FLOW_MISSING", `${where}: ${path} does not exist there`, {
      hint: "is the path relative to the repository root, and is the file committed?",
    });
  }
  if (!real.startsWith(root + sep)) throw escapeError(where, path, real);
  if (!statSync(real).isFile()) {
    throw new WeftError("STORAGE_FLOW_MISSING", `${where}: ${path} is not a file`);
  }
  return real;
}

/** Whether `path` is a symlink whose (missing) target lies outside `root`. */
function danglesOutside(path: string, root: string): boolean {
  try {
    if (!lstatSync(path).isSymbolicLink()) return false;
    const target = resolve(dirname(path), readlinkSync(path));
    return !target.startsWith(root + sep);
  } catch {
    return false;
  }
}

function escapeError(where: string, path: string, to: string): WeftError {
  return new WeftError(
    "STORAGE_LOCATION_ESCAPE",
    `${where}: ${path} resolves outside the repository (to ${to}); refused`,
    { hint: "a flow file in a git storage must be a file of the repository, not a link out of it" },
  );
}

function git(remote: GitRemote, args: string[]) {
  return runGit(args, { cwd: remote.workDir, timeoutMs: remote.timeoutMs, repo: remote.repo });
}

/** Runs a git command that does not talk to the repository (init, checkout). */
async function local(remote: GitRemote, commit: string, args: string[]): Promise<void> {
  try {
    await git(remote, args);
  } catch (error) {
    if (!(error instanceof GitCommandError)) throw error;
    throw new WeftError(
      "STORAGE_FLOW_MISSING",
      `${remote.source}: checking out commit ${commit} of ${remote.repo} failed: ${complaintOf(error.stderr)}`,
      { cause: error },
    );
  }
}

/** A failure to talk to the repository, as STORAGE_UNREACHABLE naming it. */
function unreachable(remote: GitRemote, error: unknown): unknown {
  if (!(error instanceof GitCommandError)) return error;
  return new WeftError(
    "STORAGE_UNREACHABLE",
    `${remote.source}: cannot read ${remote.repo}: ${complaintOf(error.stderr) || `git ${error.args[0]} failed`}`,
    {
      cause: error,
      hint: "check the URL or path, the network and git's credentials for it (git never prompts here)",
    },
  );
}
