// How long building a container storage's image takes, as `weft register --storage container`
// does it in a fresh process: cold (new flow code: bundle, build context, image build on the
// cached runtime image) and warm (unchanged code: bundle and hash, the tag is found, nothing is
// built). Also the runtime image itself built cold (weft + its dependency closure on the base
// image, with a fresh layer so the engine's cache cannot answer).
//
//   WEFT_CONTAINER_HOST=unix:///tmp/weft-ctr/podman.sock WEFT_TEST_BASE_IMAGE=localhost/weft-node-base:20 \
//     npm run bench:containers -- [--runs N] [--registry host:port]
//
// Each sample is a child process (`--child`) that makes the storage, adds the flow, builds, and
// prints its timings; the parent prints median, min and max. With --registry the image is also
// pushed (cold pushes new layers; warm pushes nothing new but still asks the registry).
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const SELF = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(SELF), "..", "..");
const BASE_IMAGE = process.env.WEFT_TEST_BASE_IMAGE ?? "localhost/weft-node-base:20";
const IMAGE_NAME = `weft-bench-build-${process.pid}`;

interface Sample {
  add_ms: number;
  build_ms: number;
  total_ms: number;
  image: string;
}

async function child(flowFile: string, registry: string | undefined): Promise<void> {
  const t0 = performance.now();
  const { createContainerStorage } = await import("../../src/storage/container-storage.ts");
  const module = (await import(pathToFileURL(flowFile).href)) as Record<string, unknown>;
  const storage = createContainerStorage({
    imageName: process.env.BENCH_IMAGE_NAME ?? IMAGE_NAME,
    baseImage: BASE_IMAGE,
    ...(registry === undefined ? {} : { registry }),
  });
  const t1 = performance.now();
  storage.addFlow(module.benchFlow as never);
  const t2 = performance.now();
  await storage.build();
  const t3 = performance.now();
  const sample: Sample = {
    add_ms: t2 - t1,
    build_ms: t3 - t2,
    total_ms: t3 - t0,
    image: String(storage.toJSON().image),
  };
  process.stdout.write(`${JSON.stringify(sample)}\n`);
}

function runChild(flowFile: string, registry: string | undefined): Promise<Sample> {
  return new Promise((done, fail) => {
    const proc = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=weftflow-source",
        SELF,
        "--child",
        flowFile,
        ...(registry ? ["--registry", registry] : []),
      ],
      {
        env: { ...process.env, BENCH_IMAGE_NAME: IMAGE_NAME },
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    proc.stdout.on("data", (d: Buffer) => (out += d));
    proc.on("error", fail);
    proc.on("exit", (code) =>
      code === 0 ? done(JSON.parse(out.trim()) as Sample) : fail(new Error(`child exited ${code}`)),
    );
  });
}

function writeFlow(dir: string, nonce: string): string {
  const file = join(dir, "flow.mjs");
  writeFileSync(
    file,
    [
      'import { flow, task } from "weftflow";',
      `const work = task("work", () => ${JSON.stringify(nonce)});`,
      'export const benchFlow = flow("bench-build", () => work());',
      "",
    ].join("\n"),
  );
  return file;
}

function stats(values: number[]): string {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  return `median ${median.toFixed(0)} ms (min ${sorted[0]?.toFixed(0)}, max ${sorted.at(-1)?.toFixed(0)})`;
}

async function runtimeCold(): Promise<number> {
  const { ContainerEngine } = await import("../../src/containers/engine.ts");
  const { BuildContext } = await import("../../src/containers/build-context.ts");
  const { addRuntime } = await import("../../src/containers/runtime-image.ts");
  const engine = new ContainerEngine();
  const tag = `localhost/${IMAGE_NAME}-runtime:${Date.now()}`;
  const t0 = performance.now();
  const context = new BuildContext();
  addRuntime(context, "weftflow");
  // A label before the COPY gives it a new parent layer: the engine's cache cannot answer.
  context.addData(
    "Dockerfile",
    `FROM ${BASE_IMAGE}\nLABEL io.weftflow.bench="${tag}"\nCOPY weftflow /opt/weftflow\n`,
  );
  await engine.build(context.stream(), { tag });
  const ms = performance.now() - t0;
  await engine.docker.getImage(tag).remove({ force: true });
  return ms;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const registry = args.includes("--registry") ? args[args.indexOf("--registry") + 1] : undefined;
  if (args[0] === "--child") {
    await child(args[1] as string, registry);
    return;
  }
  const runs = args.includes("--runs") ? Number(args[args.indexOf("--runs") + 1]) : 5;
  const dir = mkdtempSync(join(tmpdir(), "weft-bench-build-"));
  mkdirSync(join(dir, "node_modules"));
  symlinkSync(REPO_ROOT, join(dir, "node_modules", "weftflow"), "dir");
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "bench", type: "module" }));
  const { ContainerEngine } = await import("../../src/containers/engine.ts");
  const engine = new ContainerEngine();
  const made = new Set<string>();
  try {
    // The runtime image is made (or found) once first, so cold flow builds measure the flows' layer.
    await runChild(writeFlow(dir, "warm-up"), undefined).then((s) => made.add(s.image));
    const cold: Sample[] = [];
    const warm: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      const file = writeFlow(dir, `cold-${Date.now()}-${i}`);
      const c = await runChild(file, registry);
      cold.push(c);
      made.add(c.image);
      const w = await runChild(file, registry);
      if (w.image !== c.image) throw new Error(`warm build changed the image: ${w.image}`);
      warm.push(w);
    }
    const runtime: number[] = [];
    for (let i = 0; i < Math.min(runs, 3); i++) runtime.push(await runtimeCold());
    const line = (label: string, samples: Sample[]) =>
      `${label}: build ${stats(samples.map((s) => s.build_ms))}; bundle ${stats(samples.map((s) => s.add_ms))}; process ${stats(samples.map((s) => s.total_ms))}`;
    process.stdout.write(
      `container storage build, ${runs} runs each${registry ? `, pushing to ${registry}` : ""} (engine ${engine.host})\n`,
    );
    process.stdout.write(`${line("cold (new code)", cold)}\n`);
    process.stdout.write(`${line("warm (unchanged, no rebuild)", warm)}\n`);
    process.stdout.write(`runtime image cold: ${stats(runtime)}\n`);
  } finally {
    for (const image of made) {
      await engine.docker
        .getImage(image)
        .remove({ force: true })
        .catch(() => {});
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
