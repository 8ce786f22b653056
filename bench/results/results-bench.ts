// The results benchmark (see README.md next to this file): what checkpointing,
// resuming and caching through a local result backend cost.
//
//   node --import tsx bench/results/results-bench.ts [checkpoint|large|cache ...] [--quick]
//
// Prints TSV on stdout (metric, value, unit, detail); progress on stderr.
import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { processCache } from "../../src/engine/cache.ts";
import {
  createLocalResultBackend,
  type Flow,
  flow,
  type ResultBackend,
  type RunOptions,
  task,
} from "../../src/index.ts";

const SECTIONS = ["checkpoint", "large", "cache"] as const;
type Section = (typeof SECTIONS)[number];

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const unknown = args.filter((a) => a !== "--quick" && !(SECTIONS as readonly string[]).includes(a));
if (unknown.length > 0) {
  process.stderr.write(
    `results-bench: unknown argument ${unknown.join(" ")}\nusage: results-bench.ts [${SECTIONS.join("|")} ...] [--quick]\n`,
  );
  process.exit(2);
}
const chosen = args.filter((a): a is Section => (SECTIONS as readonly string[]).includes(a));
const sections: readonly Section[] = chosen.length > 0 ? chosen : SECTIONS;

/** Tasks in the checkpoint and cache flows. */
const N = 10_000;
/** Bytes of the large result. */
const LARGE_MB = 100;
const LARGE = LARGE_MB * 1024 * 1024;
/** Repetitions per figure; the median is reported. */
const REPS = quick ? 3 : 5;

const root = mkdtempSync(join(tmpdir(), "weft-results-bench-"));
process.on("exit", () => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
/** A fresh, empty result directory. */
const freshDir = () => join(root, `r${dirs++}`);
let flows = 0;
/** A flow name not used before in this process (the process cache is keyed by it). */
const freshName = (label: string) => `${label}-${flows++}`;

function row(metric: string, value: number, unit: string, detail: string): void {
  const shown = Math.abs(value) >= 100 ? value.toFixed(0) : value.toFixed(2);
  process.stdout.write(`${metric}\t${shown}\t${unit}\t${detail}\n`);
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function check(ok: boolean, what: string): void {
  if (!ok) {
    process.stderr.write(`results-bench: ${what}\n`);
    process.exit(1);
  }
}

/** Runs `f` and returns the run and its wall time in ms (the graph is built before the clock starts). */
async function timed<T>(f: Flow<T>, options: RunOptions = {}) {
  f.build();
  const t0 = performance.now();
  const run = await f.run(options);
  const ms = performance.now() - t0;
  check(
    run.state.type === "Success",
    `${f.name}: ended ${run.state.type} ${run.state.message ?? ""}`,
  );
  return { run, ms };
}

// ------------------------------------------------------------------ flows

const work = task("work", (i: number) => ({ i, sq: i * i }));
const cachedWork = task("work", (i: number) => ({ i, sq: i * i }), { cacheFor: 3_600_000 });
const items = Array.from({ length: N }, (_, i) => i);

/** N independent small tasks (one node each). */
const fanout = (label: string, t: typeof work = work) =>
  flow(freshName(label), () => items.map((i) => t(i)));
/** One mapped node with N children. */
const mapped = (label: string) => flow(freshName(label), () => work.map(items));

// ------------------------------------------------------------- checkpoint

async function checkpointOverhead(): Promise<void> {
  const shapes: [string, (label: string) => Flow<unknown>][] = [
    ["fanout", (l) => fanout(l) as Flow<unknown>],
    ["mapped", (l) => mapped(l) as Flow<unknown>],
  ];
  // Rounds interleave the shapes and the floor, so that a slow spell of the
  // machine (or of the file system) weighs on each figure alike.
  const without = new Map<string, number[]>();
  const withBackend = new Map<string, number[]>();
  const floor: number[] = [];
  for (let r = 0; r < REPS + 1; r++) {
    for (const [shape, make] of shapes) {
      const plain = await timed(make(`plain-${shape}`));
      const dir = freshDir();
      const persisted = await timed(make(`ckpt-${shape}`), {
        result: createLocalResultBackend({ directory: dir }),
      });
      rmSync(dir, { recursive: true, force: true });
      // The first round warms the JIT and the file system.
      if (r === 0) continue;
      without.set(shape, [...(without.get(shape) ?? []), plain.ms]);
      withBackend.set(shape, [...(withBackend.get(shape) ?? []), persisted.ms]);
    }
    const dir = freshDir();
    const ms = await rawWrites(dir);
    rmSync(dir, { recursive: true, force: true });
    if (r > 0) floor.push(ms);
  }
  for (const [shape] of shapes) {
    const a = median(without.get(shape)!);
    const b = median(withBackend.get(shape)!);
    process.stderr.write(
      `checkpoint ${shape}: ${a.toFixed(0)} ms without, ${b.toFixed(0)} ms with\n`,
    );
    row(`checkpoint_${shape}_without_us_per_task`, (a * 1000) / N, "µs", `${N} tasks, no backend`);
    row(`checkpoint_${shape}_with_us_per_task`, (b * 1000) / N, "µs", `${N} tasks, local json`);
    row(
      `checkpoint_${shape}_overhead_us_per_task`,
      ((b - a) * 1000) / N,
      "µs",
      `(with - without) / ${N}, median of ${REPS}`,
    );
  }
  process.stderr.write(`checkpoint floor: ${median(floor).toFixed(0)} ms\n`);
  row(
    "checkpoint_fs_floor_us_per_task",
    (median(floor) * 1000) / N,
    "µs",
    `the same ${N} files as fanout (mkdir -p, write a .tmp, rename), 100 at a time, no engine`,
  );
}

/** What the local backend does per result, straight on the file system: the floor. */
async function rawWrites(dir: string): Promise<number> {
  const runId = "00000000-0000-4000-8000-000000000000";
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < N) {
      const i = next++;
      const path = join(dir, "flow", `work-${i + 1}`, "-", runId);
      await mkdir(join(dir, "flow", `work-${i + 1}`, "-"), { recursive: true });
      await writeFile(`${path}.tmp`, JSON.stringify({ i, sq: i * i }));
      await rename(`${path}.tmp`, path);
    }
  };
  await Promise.all(Array.from({ length: 100 }, worker));
  return performance.now() - t0;
}

// ---------------------------------------------------------- large result

async function largeResult(): Promise<void> {
  const big = task("big", () => {
    const bytes = new Uint8Array(LARGE);
    for (let i = 0; i < LARGE; i += 4096) bytes[i] = i & 0xff;
    return bytes;
  });
  const size = task("size", (b: Uint8Array) => b.byteLength, { checkpoint: false });
  const make = () => flow(freshName("large"), () => size(big()));
  const plainMs: number[] = [];
  const writeMs: number[] = [];
  const resumeMs: number[] = [];
  const readMs: number[] = [];
  const reps = quick ? 2 : 3;
  for (let r = 0; r < reps + 1; r++) {
    const plain = await timed(make());
    check(plain.run.result("size-1") === LARGE, "the large result has the wrong size");
    const dir = freshDir();
    const backend: ResultBackend = createLocalResultBackend({
      directory: dir,
      serializer: "binary",
    });
    const f = make();
    const first = await timed(f, { result: backend });
    const resumed = await timed(f, { result: backend, resume: first.run.id });
    check(resumed.run.result("size-1") === LARGE, "the resumed result has the wrong size");
    check(
      resumed.run.stateOf("big-1").message?.startsWith("resumed from run") === true,
      "big did not resume",
    );
    const location = first.run.stateOf("big-1").location!;
    const t0 = performance.now();
    const back = (await backend.read(location)) as Uint8Array;
    const read = performance.now() - t0;
    check(back.byteLength === LARGE, "the read-back result has the wrong size");
    rmSync(dir, { recursive: true, force: true });
    if (r === 0) continue;
    plainMs.push(plain.ms);
    writeMs.push(first.ms);
    resumeMs.push(resumed.ms);
    readMs.push(read);
  }
  const plain = median(plainMs);
  const write = median(writeMs) - plain;
  const resume = median(resumeMs);
  const read = median(readMs);
  process.stderr.write(
    `large: plain ${plain.toFixed(0)} ms, with write ${median(writeMs).toFixed(0)} ms, resume ${resume.toFixed(0)} ms, read ${read.toFixed(0)} ms\n`,
  );
  row(
    "large_write_ms",
    write,
    "ms",
    `${LARGE_MB} MB Uint8Array, binary: run with backend - run without`,
  );
  row("large_write_MBps", LARGE_MB / (write / 1000), "MB/s", "serialize + write + rename");
  row(
    "large_resume_ms",
    resume,
    "ms",
    "resumed run: exists + read + deserialize + re-write under the new run id",
  );
  row("large_resume_MBps", LARGE_MB / (resume / 1000), "MB/s", `${LARGE_MB} MB / resumed run`);
  row(
    "large_read_MBps",
    LARGE_MB / (read / 1000),
    "MB/s",
    "backend.read alone: read + deserialize",
  );
  row("peak_rss_MB", process.resourceUsage().maxRSS / 1024, "MB", "after the large-result rows");
}

// ------------------------------------------------------------------ cache

async function cacheHits(): Promise<void> {
  const baseline: number[] = [];
  const memory: number[] = [];
  const persistedCold: number[] = [];
  const persistedWarm: number[] = [];
  const allCached = (run: Awaited<ReturnType<typeof timed>>["run"]) =>
    [...run.taskStates.values()].every((s) => s.type === "Cached");
  for (let r = 0; r < REPS + 1; r++) {
    const plain = await timed(fanout("cache-baseline"));

    const inMemory = fanout("cache-mem", cachedWork);
    await timed(inMemory);
    const memHit = await timed(inMemory);
    check(allCached(memHit.run), "memory: the second run is not all Cached");

    const dir = freshDir();
    const backend = createLocalResultBackend({ directory: dir });
    const persisted = fanout("cache-disk", cachedWork);
    await timed(persisted, { result: backend });
    const warm = await timed(persisted, { result: backend });
    check(allCached(warm.run), "persisted (warm): the second run is not all Cached");
    processCache.clear(); // a new process: every hit reads its entry from the backend
    const cold = await timed(persisted, { result: backend });
    check(allCached(cold.run), "persisted (cold): the third run is not all Cached");
    check(
      cold.run.stateOf("work-1").location?.startsWith("_cache/") === true,
      "a cold hit names no _cache location",
    );
    rmSync(dir, { recursive: true, force: true });
    processCache.clear();
    if (r === 0) continue;
    baseline.push(plain.ms);
    memory.push(memHit.ms);
    persistedWarm.push(warm.ms);
    persistedCold.push(cold.ms);
  }
  const us = (ms: number[]) => (median(ms) * 1000) / N;
  process.stderr.write(
    `cache: baseline ${median(baseline).toFixed(0)} ms, memory ${median(memory).toFixed(0)} ms, persisted warm ${median(persistedWarm).toFixed(0)} ms, cold ${median(persistedCold).toFixed(0)} ms\n`,
  );
  row("cache_baseline_us_per_task", us(baseline), "µs", `${N} tasks run, no cache`);
  row("cache_hit_memory_us_per_task", us(memory), "µs", "second run all Cached, no backend");
  row(
    "cache_hit_persisted_warm_us_per_task",
    us(persistedWarm),
    "µs",
    "second run all Cached, backend, entries still in this process",
  );
  row(
    "cache_hit_persisted_cold_us_per_task",
    us(persistedCold),
    "µs",
    "all Cached, backend, process memory cleared (as a new process): exists + read per task",
  );
}

// ------------------------------------------------------------------- main

process.stdout.write("metric\tvalue\tunit\tdetail\n");
process.stderr.write(
  `results-bench: node ${process.version}, ${REPS} repetitions${quick ? " (quick)" : ""}, results under ${root}\n`,
);
for (const section of sections) {
  if (section === "checkpoint") await checkpointOverhead();
  else if (section === "large") await largeResult();
  else await cacheHits();
}
