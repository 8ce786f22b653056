// Flows of the distributed benchmark. They import from "weftflow", as stored flows must.
import { flow, parameter, task, unmapped } from "weftflow";

const range = task("range", (count: number) => Array.from({ length: count }, (_, i) => i));
const inc = task("inc", (x: number) => x + 1);

/** `count` trivial mapped children: throughput and mapping cost. */
export const trivialMapFlow = flow("bench-dist-map", () => {
  const count = parameter("count", 1000, { type: "integer" });
  return { out: inc.map(range(count)) };
});

/** 200 trivial tasks in a chain: each waits for the one before, so each pays one full dispatch. */
export const chainFlow = flow("bench-dist-chain", () => {
  let value = inc(0);
  for (let i = 1; i < 200; i++) value = inc(value);
  return { value };
});

const burn = task("burn", (ms: number, i: number) => {
  const end = performance.now() + ms;
  let x = i;
  while (performance.now() < end) x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
  return x;
});

/** `count` CPU-bound children of `ms` each. */
export const cpuFlow = flow("bench-dist-cpu", () => {
  const count = parameter("count", 40, { type: "integer" });
  const ms = parameter("ms", 50, { type: "integer" });
  return { out: burn.map(unmapped(ms), range(count)) };
});
