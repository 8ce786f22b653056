// Times the phases of one weft command's start in a fresh process, in the order
// bin/weft.js pays them, by importing each part ahead of the command: the Node
// built-ins weft's build imports, each npm package it imports, weft's CLI
// (dist/cli.js and the chunks it imports), the chunks the command loads when it
// runs (LAZY below), then the command itself: main(argv), with everything above
// already loaded. The import graphs are read from dist/ (esbuild's static
// `import … from "…"` lines), so the phases follow the build as it changes.
//
//   WEFT_BENCH_MARKS=<file> node bench/startup/start-phases.mjs <weft argv…>
//   WEFT_BENCH_MARKS=<file> node bench/startup/start-phases.mjs --hooks
//   WEFT_BENCH_MARKS=<file> node bench/startup/start-phases.mjs --empty
//
// Writes { marks: [[name, epoch ms], …] } to the file just before the process
// exits (as bin/weft.js does: once stdout is flushed). Epoch times come from
// performance.timeOrigin + performance.now(), so the parent (startup-bench.ts)
// can put its spawn and exit times on the same clock: node's boot is the first
// mark minus the spawn, the exit is the process's end minus the last mark.
// (`worker start` returns from main() only when stopped: the parent times its
// "serving" line instead, then stops it.)
//
// --hooks takes apart what `weft run <file.ts>` adds: importing tsx's API,
// starting Node's module hooks thread (module.register of an empty hook) and
// loading tsx's hooks into that thread (tsx's register). --empty is an empty ES
// module: node's boot with its ES module loader.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { register } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const now = () => performance.timeOrigin + performance.now();
const marks = [["start", now()]];
const mark = (name) => marks.push([name, now()]);
const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const dist = join(root, "dist");
const file = process.env.WEFT_BENCH_MARKS;
if (!file) throw new Error("WEFT_BENCH_MARKS must name the file the marks go to");
const finish = (code) => {
  writeFileSync(file, JSON.stringify({ marks }));
  process.stdout.write("", () => process.exit(code));
};

/** The modules `entry` imports statically, recursively: weft's files and the bare specifiers, in order. */
function staticGraph(entry, seen = new Set()) {
  const files = [];
  const bare = [];
  const visit = (path) => {
    if (seen.has(path)) return;
    seen.add(path);
    files.push(path);
    const source = readFileSync(path, "utf8");
    for (const [, specifier] of source.matchAll(
      /(?:^|\n)import\s*(?:[^"';]*?\sfrom\s*)?"([^"]+)";/g,
    )) {
      if (specifier.startsWith(".")) visit(join(dirname(path), specifier));
      else if (!bare.includes(specifier)) bare.push(specifier);
    }
  };
  visit(entry);
  return { files, bare };
}

const args = process.argv.slice(2);

/**
 * What each command imports when it runs: chunks, by the start of their file
 * names in dist/chunks, and packages weft loads on first use
 * (src/engine/distributed/queue-modules.ts).
 */
const LAZY = {
  run: { chunks: ["run-action-"], packages: [] },
  execute: { chunks: ["execute-action-"], packages: [] },
  worker: {
    chunks: ["distributed-worker-", "distributed-protocol-"],
    packages: ["ioredis", "bullmq"],
  },
};

if (args[0] === "--empty") {
  finish(0);
} else if (args[0] === "--hooks") {
  const { register: registerTsx } = await import("tsx/esm/api");
  mark("package tsx (its API, main thread)");
  register("data:text/javascript,export async function resolve(s, c, next) { return next(s, c); }");
  mark("module hooks thread started (module.register of an empty hook)");
  registerTsx({ namespace: "weftflow-bench" });
  mark("tsx's hooks loaded into the hooks thread (tsx register)");
  finish(0);
} else {
  const cli = staticGraph(join(dist, "cli.js"));
  const seen = new Set(cli.files);
  // The chunks a command imports when it runs (src/cli/commands/*-command.ts), by name.
  const { chunks: prefixes, packages } = LAZY[args[0]] ?? { chunks: [], packages: [] };
  const chunks = readdirSync(join(dist, "chunks")).filter(
    (f) => f.endsWith(".js") && prefixes.some((p) => f.startsWith(p)),
  );
  const lazy = { files: [], bare: [] };
  for (const chunk of chunks) {
    const graph = staticGraph(join(dist, "chunks", chunk), seen);
    lazy.files.push(...graph.files);
    lazy.bare.push(...graph.bare);
  }
  const bare = [...new Set([...cli.bare, ...lazy.bare, ...packages])];
  const builtins = bare.filter((b) => b.startsWith("node:"));
  await Promise.all(builtins.map((b) => import(b)));
  mark(`node built-ins weft imports (${builtins.length})`);
  for (const specifier of bare.filter((b) => !b.startsWith("node:"))) {
    await import(specifier);
    mark(`package ${specifier}`);
  }
  const { main } = await import(pathToFileURL(join(dist, "cli.js")).href);
  mark(`weft: dist/cli.js and its chunks (${cli.files.length} files)`);
  if (chunks.length > 0) {
    for (const chunk of chunks) await import(pathToFileURL(join(dist, "chunks", chunk)).href);
    const names = chunks.map((c) => c.replace(/-[A-Z0-9]+\.js$/, "")).join(", ");
    mark(
      `weft: ${names} and ${chunks.length === 1 ? "its" : "their"} chunks (${lazy.files.length} files)`,
    );
  }
  const flowFile = args[0] === "run" ? args[1] : undefined;
  if (flowFile !== undefined && /\.[cm]?tsx?$/.test(flowFile)) {
    // As weft does (src/engine/user-modules.ts): tsx's API is imported, then its hooks registered.
    await import("tsx/esm/api");
    mark("package tsx (its API, main thread)");
  } else if (flowFile !== undefined || args[0] === "execute") {
    // The flow's `import … from "weftflow"`: the chunks of dist/index.js not loaded yet. (Not
    // for a TypeScript flow, whose weftflow is resolved through the module hooks thread.)
    await import(pathToFileURL(join(dist, "index.js")).href);
    mark("weft: dist/index.js (the flow's weftflow) and its chunks not loaded yet");
  }
  const code = await main(args);
  mark("main() returned");
  finish(code);
}
