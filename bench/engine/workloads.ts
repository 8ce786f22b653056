// The engine benchmark's workloads: four flows whose size N comes from the
// environment variable WEFT_BENCH_N, plus the same task functions called in a
// plain loop (the `plain` rows) and an inline reference to check results.
//
// This module must stay free of side effects: the worker-threads executor
// imports it in every worker thread and finds the tasks there by name (it would
// rebuild the flow by name for a task it cannot find that way). The
// builders read N from the environment when the graph is built, and worker
// threads inherit the parent's environment when they are spawned, so every
// thread builds the same graph (the same slugs).
import { flow, type Ref, task } from "weftflow";

/** The workloads, in table order. */
export const WORKLOADS = ["chain", "fanout", "mapped", "diamond"] as const;
export type Workload = (typeof WORKLOADS)[number];

/** Modulus of the diamond workload's arithmetic. */
export const P = 1_000_003;

/** The graph size N of this process (and its worker threads). */
export function benchN(): number {
  const raw = process.env.WEFT_BENCH_N;
  const n = raw === undefined ? Number.NaN : Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new Error(`WEFT_BENCH_N must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** Columns W and layers L of the diamond workload for a given N. */
export function diamondShape(n: number): { width: number; layers: number } {
  const width = Math.max(1, Math.round(Math.sqrt(n)));
  return { width, layers: Math.max(1, Math.floor(n / width)) };
}

// ---------------------------------------------------------------- task bodies

function incFn(x: number): number {
  return x + 1;
}
function sourceFn(): number {
  return 0;
}
function workFn(s: number, i: number): number {
  return s + i;
}
function totalFn(xs: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < xs.length; i++) sum += xs[i]!;
  return sum;
}
function itemsFn(n: number): number[] {
  const xs = new Array<number>(n);
  for (let i = 0; i < n; i++) xs[i] = i;
  return xs;
}
function doubleFn(x: number): number {
  return 2 * x;
}
function seedFn(j: number): number {
  return j;
}
function combineFn(a: number, b: number): number {
  return (a + b + 1) % P;
}
function checksumFn(xs: readonly number[]): number {
  let sum = 0;
  for (let i = 0; i < xs.length; i++) sum = (sum + xs[i]!) % P;
  return sum;
}

// ---------------------------------------------------------------------- tasks

const inc = task("inc", incFn);
const source = task("source", sourceFn);
const work = task("work", workFn);
const total = task("total", totalFn);
const items = task("items", itemsFn);
const double = task("double", doubleFn);
const seed = task("seed", seedFn);
const combine = task("combine", combineFn);
const checksum = task("checksum", checksumFn);

// ---------------------------------------------------------------------- flows

/** t0 = inc(0); t_i = inc(t_{i-1}): N tasks in a line, result N. */
export const chainFlow = flow("bench-chain", () => {
  const n = benchN();
  let t = inc(0);
  for (let i = 1; i < n; i++) t = inc(t);
  return { result: t };
});

/** s = source(); w_i = work(s, i) for i < N; r = total(w_0..w_{N-1}): N + 2 tasks. */
export const fanoutFlow = flow("bench-fanout", () => {
  const n = benchN();
  const s = source();
  const ws = new Array<Ref<number>>(n);
  for (let i = 0; i < n; i++) ws[i] = work(s, i);
  return { result: total(ws) };
});

/** xs = items(N); ys = double.map(xs); r = total(ys): N + 2 task runs (N mapped children). */
export const mappedFlow = flow("bench-mapped", () => {
  const n = benchN();
  const xs = items(n);
  const ys = double.map(xs);
  return { result: total(ys) };
});

/**
 * W = round(√N) columns, L = floor(N / W) layers: c_{0,j} = seed(j), then
 * c_{k,j} = combine(c_{k-1,j}, c_{k-1,(j+1) mod W}); a final `checksum` task sums
 * the last layer mod P. W·L + 1 tasks.
 */
export const diamondFlow = flow("bench-diamond", () => {
  const { width, layers } = diamondShape(benchN());
  let prev = new Array<Ref<number>>(width);
  for (let j = 0; j < width; j++) prev[j] = seed(j);
  for (let k = 1; k < layers; k++) {
    const next = new Array<Ref<number>>(width);
    for (let j = 0; j < width; j++) next[j] = combine(prev[j]!, prev[(j + 1) % width]!);
    prev = next;
  }
  return { result: checksum(prev) };
});

/** The flow of each workload; each returns `{ result }`. */
export const FLOWS = {
  chain: chainFlow,
  fanout: fanoutFlow,
  mapped: mappedFlow,
  diamond: diamondFlow,
} as const;

/** Task runs of a workload at size N (mapped children included; the checksum task included). */
export function taskCount(workload: Workload, n: number): number {
  switch (workload) {
    case "chain":
      return n;
    case "fanout":
    case "mapped":
      return n + 2;
    case "diamond": {
      const { width, layers } = diamondShape(n);
      return width * layers + 1;
    }
  }
}

// ------------------------------------------------------------------ plain loops

/** The workload's result from the same task functions called in a plain loop (no engine). */
export function runPlain(workload: Workload, n: number): number {
  switch (workload) {
    case "chain": {
      let t = inc.fn(0);
      for (let i = 1; i < n; i++) t = inc.fn(t);
      return t;
    }
    case "fanout": {
      const s = source.fn();
      const ws = new Array<number>(n);
      for (let i = 0; i < n; i++) ws[i] = work.fn(s, i);
      return total.fn(ws);
    }
    case "mapped": {
      const xs = items.fn(n);
      const ys = new Array<number>(xs.length);
      for (let i = 0; i < xs.length; i++) ys[i] = double.fn(xs[i]!);
      return total.fn(ys);
    }
    case "diamond": {
      const { width, layers } = diamondShape(n);
      let prev = new Array<number>(width);
      for (let j = 0; j < width; j++) prev[j] = seed.fn(j);
      for (let k = 1; k < layers; k++) {
        const next = new Array<number>(width);
        for (let j = 0; j < width; j++) next[j] = combine.fn(prev[j]!, prev[(j + 1) % width]!);
        prev = next;
      }
      return checksum.fn(prev);
    }
  }
}

/**
 * The expected result computed without the task functions (closed forms; the
 * diamond by inline arithmetic), to check the `plain` rows themselves.
 */
export function reference(workload: Workload, n: number): number {
  switch (workload) {
    case "chain":
      return n;
    case "fanout":
      return (n * (n - 1)) / 2;
    case "mapped":
      return n * (n - 1);
    case "diamond": {
      const { width, layers } = diamondShape(n);
      let prev = Array.from({ length: width }, (_, j) => j);
      for (let k = 1; k < layers; k++) {
        prev = prev.map((a, j) => (a + prev[(j + 1) % width]! + 1) % P);
      }
      return prev.reduce((sum, x) => (sum + x) % P, 0);
    }
  }
}
