// What a change to the build would save at start-up, measured before anyone
// makes it: builds variants of dist/ from src/ (as scripts/build.js does, with
// one option changed) into throwaway copies of the package, then times the same
// commands on each, interleaved (A B C … A B C …) so that every variant sees the
// same load. Nothing in the checkout changes.
//
//   node bench/startup/variants.mjs [--runs 15] [--variants a,b,…] [--commands version,run-mjs,run-ts]
//
// Variants (VARIANTS below): `dist` (scripts/build.js's options: the control),
// `dist-again` (the same build again: its difference to `dist` is the noise),
// `zod-external` (zod imported from node_modules, as before it was bundled), `zod-no-locales`
// (zod bundled without its 56 locale modules, which weft never uses),
// `bundle-zod-commander-croner` (all three inside, without the locales),
// `no-sourcemaps` (dist/ without .map files: tsx turns source maps on, and Node
// then reads the map of every module loaded after it), `version-fast-path`
// (bin/weft.js answers --version from package.json before loading the CLI).
//
// Each round runs every variant once per command, starting at a different
// variant each round. Per command and variant: the median wall time (spawn → exit) and the median
// CPU time of the child (user + system, all its threads, from
// process.resourceUsage() at exit through a --import preload), and the
// difference to `dist`. CPU time moves less with the machine's load than wall
// time. A table on stdout; progress on stderr.
import { spawn } from "node:child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { BUNDLED, javascriptOptions } from "../../scripts/build.js";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const option = (name, fallback) => {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : process.argv[at + 1];
};
const runs = Number(option("--runs", "15"));

/** Leaves zod's locales out: weft never reads z.locales, and zod configures English itself. */
const noLocales = {
  name: "no-zod-locales",
  setup(build) {
    build.onResolve({ filter: /locales\/index\.js$/ }, (args) =>
      args.importer.includes(`${"/node_modules/"}zod/`)
        ? { path: "zod-locales", namespace: "empty" }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "empty" }, () => ({ contents: "export {}" }));
  },
};

const requireBanner =
  "import { createRequire as __weftCreateRequire } from 'node:module'; const require = __weftCreateRequire(import.meta.url);";

const VARIANTS = {
  dist: {},
  "dist-again": {},
  "zod-external": { bundled: [] },
  "zod-no-locales": { bundled: BUNDLED, plugins: [noLocales] },
  "bundle-zod-commander-croner": {
    bundled: [...BUNDLED, "commander", "croner"],
    plugins: [noLocales],
  },
  "no-sourcemaps": { sourcemap: false },
  "version-fast-path": { versionFastPath: true },
};

const COMMANDS = {
  version: ["--version"],
  "run-mjs": ["run", "flows/startup-flow.mjs"],
  "run-ts": ["run", "flows/startup-flow.ts"],
};

const variantNames = option("--variants", Object.keys(VARIANTS).join(",")).split(",");
const commandNames = option("--commands", Object.keys(COMMANDS).join(",")).split(",");
for (const v of variantNames) if (!VARIANTS[v]) throw new Error(`unknown variant ${v}`);
for (const c of commandNames) if (!COMMANDS[c]) throw new Error(`unknown command ${c}`);

const FAST_PATH = `
// variants.mjs: answer --version before the CLI loads.
if (process.argv.length === 3 && ["--version", "-v"].includes(process.argv[2])) {
  const { readFileSync } = await import("node:fs");
  const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  process.stdout.write(\`\${version}\\n\`);
  process.exit(0);
}
`;

async function buildVariant(dir, variant) {
  const { build } = await import("esbuild");
  mkdirSync(join(dir, "bin"), { recursive: true });
  mkdirSync(join(dir, "flows"));
  copyFileSync(join(root, "package.json"), join(dir, "package.json"));
  const bin = readFileSync(join(root, "bin", "weft.js"), "utf8");
  writeFileSync(
    join(dir, "bin", "weft.js"),
    variant.versionFastPath ? bin.replace(/\nconst entry = /, `${FAST_PATH}const entry = `) : bin,
  );
  // Inside the copy, so that their "weftflow" is the copy's own dist/ (a self-reference).
  for (const f of ["startup-flow.ts", "startup-flow.mjs"])
    copyFileSync(join(root, "bench", "startup", f), join(dir, "flows", f));
  symlinkSync(join(root, "node_modules"), join(dir, "node_modules"));
  const options = javascriptOptions({
    outdir: join(dir, "dist"),
    ...(variant.bundled === undefined ? {} : { bundled: variant.bundled }),
  });
  await build({
    ...options,
    ...(variant.sourcemap === false ? { sourcemap: false } : {}),
    plugins: variant.plugins ?? [],
    // Bundled CommonJS (commander) calls require(): give the ES modules one.
    ...(variant.bundled?.includes("commander") ? { banner: { js: requireBanner } } : {}),
  });
}

const preload = `data:text/javascript,${encodeURIComponent(
  `import { writeFileSync } from "node:fs";
process.on("exit", () => {
  const u = process.resourceUsage();
  writeFileSync(process.env.WEFT_BENCH_CPU_FILE, String((u.userCPUTime + u.systemCPUTime) / 1000));
});`,
)}`;

function once(dir, args, cpuFile) {
  return new Promise((resolvePromise, reject) => {
    const env = { ...process.env, NO_COLOR: "1", WEFT_BENCH_CPU_FILE: cpuFile };
    delete env.NODE_OPTIONS;
    const started = performance.now();
    const child = spawn(process.execPath, ["--import", preload, "bin/weft.js", ...args], {
      cwd: dir,
      env,
      stdio: ["ignore", "ignore", "pipe"],
    });
    let err = "";
    child.stderr.on("data", (c) => (err += c));
    child.on("exit", (code) => {
      const wall = performance.now() - started;
      if (code !== 0) reject(new Error(`${dir} ${args.join(" ")}: exit ${code}\n${err}`));
      else resolvePromise({ wall, cpu: Number(readFileSync(cpuFile, "utf8")) });
    });
  });
}

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const load = () => readFileSync("/proc/loadavg", "utf8").split(" ")[0];

const tmp = mkdtempSync(join(tmpdir(), "weft-startup-variants-"));
try {
  const dirs = {};
  for (const name of variantNames) {
    dirs[name] = join(tmp, name);
    await buildVariant(dirs[name], VARIANTS[name]);
  }
  const cpuFile = join(tmp, "cpu");
  const loadBefore = load();
  process.stderr.write(
    `${runs} rounds of ${variantNames.length} variants × ${commandNames.length} commands, load ${loadBefore}\n`,
  );
  const samples = {};
  for (let i = 0; i <= runs; i++) {
    for (const c of commandNames) {
      // Each round starts at the next variant, so that none always runs first.
      const order = variantNames.map((_, k) => variantNames[(k + i) % variantNames.length]);
      for (const v of order) {
        const s = await once(dirs[v], COMMANDS[c], cpuFile);
        if (i === 0) continue; // warm-up round (page cache, tsx's transform cache)
        const key = `${c}\t${v}`;
        samples[key] ??= { wall: [], cpu: [] };
        samples[key].wall.push(s.wall);
        samples[key].cpu.push(s.cpu);
      }
    }
    process.stderr.write(`\r  ${i}/${runs}`);
  }
  process.stderr.write("\n");
  const rows = [];
  for (const c of commandNames) {
    const control = samples[`${c}\t${variantNames[0]}`];
    for (const v of variantNames) {
      const s = samples[`${c}\t${v}`];
      const wall = median(s.wall);
      const cpu = median(s.cpu);
      rows.push([
        `weft ${COMMANDS[c].join(" ")}`,
        v,
        `${Math.round(wall)} ms`,
        `${Math.round(cpu)} ms`,
        v === variantNames[0] ? "" : `${Math.round(wall - median(control.wall))} ms`,
        v === variantNames[0] ? "" : `${Math.round(cpu - median(control.cpu))} ms`,
      ]);
    }
  }
  const header = [
    "command",
    "variant",
    "wall p50",
    "CPU p50",
    `Δ wall vs ${variantNames[0]}`,
    `Δ CPU vs ${variantNames[0]}`,
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells) => `| ${cells.map((x, i) => x.padEnd(widths[i])).join(" | ")} |`;
  console.log([line(header), line(widths.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n"));
  console.log(
    `\n${runs} rounds, ${new Date().toISOString()}, load average ${loadBefore} → ${load()}`,
  );
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
