// How long the run page's graph layout takes, in Node (the same code the browser runs):
// dagre and the fast layered layout (ui/src/components/graph-layout.ts), interleaved
// (dagre, layered, dagre, …) on three shapes of graph, medians of the repetitions.
//
//   node --import tsx bench/ui/graph-layout-bench.ts [nodes=1000] [repetitions=3]
//
// The page uses dagre up to DAGRE_MAX_NODES tasks and the layered layout above; this is the
// figure that decides the threshold (the budget: a run page of 1,000 tasks interactive ≤ 1.5 s).
import {
  DAGRE_MAX_NODES,
  dagreLayout,
  type GraphShape,
  layeredLayout,
} from "../../ui/src/components/graph-layout.ts";

const nodes = Number(process.argv[2] ?? 1000);
const repetitions = Number(process.argv[3] ?? 3);

/** chain: a line; wide: one fan-out; tree: a binary tree with cross edges (ETL-like). */
function graph(n: number, shape: "chain" | "wide" | "tree"): GraphShape {
  const tasks = Array.from({ length: n }, (_, i) => ({ slug: `t${i}`, name: `task ${i}` }));
  const edges: { upstream: string; downstream: string }[] = [];
  for (let i = 1; i < n; i++) {
    if (shape === "chain") edges.push({ upstream: `t${i - 1}`, downstream: `t${i}` });
    else if (shape === "wide") edges.push({ upstream: "t0", downstream: `t${i}` });
    else {
      edges.push({ upstream: `t${Math.floor((i - 1) / 2)}`, downstream: `t${i}` });
      if (i > 10 && i % 3 === 0) edges.push({ upstream: `t${i - 7}`, downstream: `t${i}` });
    }
  }
  return { tasks, edges };
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const time = (f: () => unknown) => {
  const t = performance.now();
  f();
  return performance.now() - t;
};

console.log(
  `graph layout, ${nodes} nodes, ${repetitions} repetitions (dagre used up to ${DAGRE_MAX_NODES})`,
);
for (const shape of ["chain", "wide", "tree"] as const) {
  const g = graph(nodes, shape);
  const dagre: number[] = [];
  const layered: number[] = [];
  for (let r = 0; r < repetitions; r++) {
    dagre.push(time(() => dagreLayout(g)));
    layered.push(time(() => layeredLayout(g)));
  }
  console.log(
    `${shape.padEnd(6)} dagre median ${median(dagre).toFixed(0)} ms [${dagre.map((x) => x.toFixed(0)).join(" ")}]  layered median ${median(layered).toFixed(1)} ms [${layered.map((x) => x.toFixed(1)).join(" ")}]`,
  );
}
