// Times the phases of a `weft execute` start in one fresh process, as
// bin/weft.js goes through them: node's own boot, tsx's loader (import and
// register), zod, weft's public module graph (src/index.ts), then the rest of
// the command line (src/cli/main.ts). Prints one JSON line of milliseconds.
// Plain JavaScript, started with plain `node`, so that tsx's cost is measured
// rather than paid before the first timestamp.
//
//   node bench/environments/start-phases.mjs [--modules <file>]
//
// With --modules, a loader hook (registered before tsx's) appends every module
// URL the process loads to <file>, one per line (this slows the start: time
// and count in separate runs).
import { register as registerHooks } from "node:module";

const at = process.argv.indexOf("--modules");
if (at !== -1) {
  const file = process.argv[at + 1];
  const hooks = `import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  appendFileSync(${JSON.stringify(file)}, url + "\\n");
  return next(url, context);
}`;
  registerHooks(`data:text/javascript,${encodeURIComponent(hooks)}`);
}
const boot = performance.now();
const { register } = await import("tsx/esm/api");
register();
const tsx = performance.now();
await import("zod");
const zod = performance.now();
await import("../../src/index.ts");
const weft = performance.now();
await import("../../src/cli/main.ts");
const cli = performance.now();
const round = (ms) => Math.round(ms);
console.log(
  JSON.stringify({
    node_boot: round(boot),
    tsx_loader: round(tsx - boot),
    zod: round(zod - tsx),
    weft_index: round(weft - zod),
    weft_cli: round(cli - weft),
    total: round(cli),
  }),
);
