import { spawn } from "node:child_process";
import { WeftError } from "../../core/errors.ts";

/** What a git command printed. */
export interface GitOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/** A git command that exited non-zero (its stderr kept to classify the failure). */
export class GitCommandError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly exitCode: number | null,
    readonly stderr: string,
  ) {
    super(`git ${args.join(" ")} exited with ${exitCode}: ${complaintOf(stderr)}`);
    this.name = "GitCommandError";
  }
}

/** Options of {@link runGit}. */
export interface RunGitOptions {
  /** Working directory. */
  cwd: string;
  /** The command is killed (with what it started) after this long. */
  timeoutMs: number;
  /** The repository the command talks to, named in a timeout error. */
  repo: string;
}

// Variables that would point git at another repository than the one we name.
const LOCATING_VARIABLES = [
  "GIT_DIR",
  "GIT_WORK_TREE",
  "GIT_INDEX_FILE",
  "GIT_OBJECT_DIRECTORY",
  "GIT_ALTERNATE_OBJECT_DIRECTORIES",
  "GIT_COMMON_DIR",
  "GIT_NAMESPACE",
];

/** The environment git runs in: never prompts (a prompt would hang an agent), messages in English. */
function gitEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GIT_TERMINAL_PROMPT: "0",
    GCM_INTERACTIVE: "never",
    LC_ALL: "C",
    GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? "ssh -o BatchMode=yes",
  };
  for (const name of LOCATING_VARIABLES) delete env[name];
  return env;
}

/**
 * Runs `git args…` without a shell. The command gets its own process group,
 * so a timeout kills git together with the transport helpers it started
 * (git-remote-https, ssh), and rejects with STORAGE_UNREACHABLE naming the repository.
 */
export function runGit(args: readonly string[], options: RunGitOptions): Promise<GitOutput> {
  return new Promise((resolve, reject) => {
    const child = spawn("git", args, {
      cwd: options.cwd,
      env: gitEnv(),
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, options.timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        error.code === "ENOENT"
          ? new WeftError("STORAGE_UNREACHABLE", `git storage: git is not installed here`, {
              cause: error,
              hint: "git storage runs the git command; install git where flows are built and run",
            })
          : error,
      );
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      const err = Buffer.concat(stderr).toString("utf8");
      if (timedOut) {
        reject(
          new WeftError(
            "STORAGE_UNREACHABLE",
            `git storage: ${options.repo} did not answer within ${options.timeoutMs} ms (git ${args[0]})`,
            { hint: "check that the repository is reachable from here, or raise timeoutMs" },
          ),
        );
      } else if (code !== 0) {
        reject(new GitCommandError(args, code, err));
      } else {
        resolve({ stdout: Buffer.concat(stdout).toString("utf8"), stderr: err });
      }
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** The last non-empty line of git's stderr: its actual complaint. */
export function complaintOf(text: string): string {
  const lines = text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "");
  const fatal = lines.filter((line) => line.startsWith("fatal:") || line.startsWith("error:"));
  return (fatal[0] ?? lines.at(-1) ?? "").replace(/^(fatal|error):\s*/, "");
}
