// Where a weft process's CPU time goes, from the .cpuprofile files that
// `node --cpu-prof` writes: one per thread (the main thread, and Node's module
// hooks thread when a command registers hooks). Time is grouped by what the
// code belongs to: Node's boot, Node's module loader, each npm package, weft's
// build (dist/), the flow. A native frame (compiling, reading a file) counts
// for the JavaScript frame that called it, so that reading a module's file
// lands in "node: module loader" rather than in a list of natives.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly url: string; readonly functionName: string };
  readonly children?: readonly number[];
}

/** The parts of a V8 .cpuprofile this module reads. */
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
  readonly startTime: number;
  readonly endTime: number;
}

/** One thread's profile, grouped. */
export interface ThreadProfile {
  /** `main` or `thread N` (N from the file name Node gives each thread's profile). */
  readonly thread: string;
  /** endTime - startTime, in ms: the span the profiler saw (from after Node's bootstrap). */
  readonly profiledMs: number;
  /** Self time by group, in ms, largest first. */
  readonly groups: readonly { readonly group: string; readonly ms: number }[];
}

const V8_GROUP: Record<string, string> = {
  "(program)": "v8: (program): native work outside JavaScript",
  "(garbage collector)": "v8: garbage collector",
  "(idle)": "idle (waiting for I/O, timers, other threads)",
  "(root)": "v8: (root)",
};

/** Node's functions that block the main thread until the module hooks thread answers. */
const HOOKS_WAIT = new Set(["waitForWorker", "makeSyncRequest"]);

/**
 * The group of a script frame, or undefined for a frame that counts for its
 * caller (a built-in such as node:fs or node:path called by someone else).
 */
export function groupOfFrame(url: string, functionName: string): string | undefined {
  if (url.startsWith("node:internal/modules/esm/hooks") && HOOKS_WAIT.has(functionName))
    return "node: main thread blocked on the module hooks thread";
  if (url.startsWith("node:internal/deps/cjs-module-lexer"))
    return "node: CommonJS export scan (cjs-module-lexer)";
  if (url.startsWith("node:internal/modules/")) {
    return /^(compileSourceTextModule|wrapSafe|compileFunction|ModuleWrap)$/.test(functionName)
      ? "node: module loader, compiling"
      : "node: module loader, resolve/read/link";
  }
  if (
    url.startsWith("node:internal/bootstrap/") ||
    url.startsWith("node:internal/process/pre_execution") ||
    url.startsWith("node:internal/main/")
  )
    return "node: bootstrap (this thread)";
  if (url.startsWith("node:")) return undefined;
  if (url.startsWith("data:")) return "weft: runtime-link hook (data: URL)";
  const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return `package ${pkg[1]}`;
  if (url.includes("/dist/")) return "weft: dist/";
  if (url.includes("/bin/weft.js")) return "weft: bin/weft.js";
  if (url.includes("/bench/startup/")) return "the flow file";
  if (url.endsWith(".mjs")) return "the flow (stored bundle)";
  return url;
}

/**
 * Self time by group of one profile. A sample counts for the innermost frame
 * that has a group of its own: a native (reading a file, compiling) or a
 * built-in (node:fs, node:path, node:url) counts for whoever called it, so
 * that weft reading a file is weft's and the module loader resolving a URL is
 * the loader's.
 */
export function groupProfile(profile: CpuProfile, thread: string): ThreadProfile {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const groupOf = (id: number): string => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const { url, functionName } = byId.get(id)!.callFrame;
    let group: string | undefined;
    if (url === "" && V8_GROUP[functionName] !== undefined) group = V8_GROUP[functionName];
    else if (url !== "") group = groupOfFrame(url, functionName);
    if (group === undefined) {
      const up = parent.get(id);
      group =
        up === undefined || byId.get(up)!.callFrame.functionName === "(root)"
          ? url.startsWith("node:")
            ? "node: other built-ins"
            : "v8: native"
          : groupOf(up);
    }
    memo.set(id, group);
    return group;
  };
  const self = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const group = groupOf(id);
    self.set(group, (self.get(group) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  return {
    thread,
    profiledMs: (profile.endTime - profile.startTime) / 1000,
    groups: [...self].map(([group, ms]) => ({ group, ms })).sort((a, b) => b.ms - a.ms),
  };
}

/**
 * Every thread profile in `dir` (as `node --cpu-prof --cpu-prof-dir dir` left
 * them for one process), the main thread first.
 */
export function readThreadProfiles(dir: string): ThreadProfile[] {
  // Node names them CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile; thread 0 is the main thread.
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".cpuprofile"))
    .map((f) => ({ f, thread: Number(f.split(".").at(-3)) }))
    .sort((a, b) => a.thread - b.thread);
  return files.map(({ f, thread }) =>
    groupProfile(
      JSON.parse(readFileSync(join(dir, f), "utf8")) as CpuProfile,
      thread === 0 ? "main" : `thread ${thread}`,
    ),
  );
}

/** Sums the profiles of several runs of one command, thread by thread, and divides by the runs. */
export function averageProfiles(runs: readonly (readonly ThreadProfile[])[]): ThreadProfile[] {
  const threads = new Map<string, { profiled: number; groups: Map<string, number> }>();
  for (const run of runs) {
    for (const t of run) {
      const acc = threads.get(t.thread) ?? { profiled: 0, groups: new Map<string, number>() };
      acc.profiled += t.profiledMs;
      for (const g of t.groups) acc.groups.set(g.group, (acc.groups.get(g.group) ?? 0) + g.ms);
      threads.set(t.thread, acc);
    }
  }
  const n = runs.length;
  return [...threads].map(([thread, acc]) => ({
    thread,
    profiledMs: acc.profiled / n,
    groups: [...acc.groups]
      .map(([group, ms]) => ({ group, ms: ms / n }))
      .sort((a, b) => b.ms - a.ms),
  }));
}
