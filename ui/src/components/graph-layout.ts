// Where each node of a flow's graph goes: a layered (left-to-right) layout of the serialized
// graph's tasks and edges.
//
// Decisions:
// - dagre lays out graphs up to DAGRE_MAX_NODES. Above that it is too slow for the run page's
//   budget (1,000 tasks interactive ≤ 1.5 s): measured in Node on this machine, dagre 3.1.4
//   took 1.9–14.7 s for 1,000 nodes (network-simplex ranking and crossing reduction dominate),
//   so big graphs get `layeredLayout`, a plain Sugiyama pass in O(V + E) per sweep: longest-path
//   ranks, two barycentre sweeps to order each rank, straight edges. It crosses more edges
//   than dagre, but it answers in milliseconds and never blocks the page.
// - Both answer the same `GraphLayout`, so the component that draws it does not care which ran.
// - Node boxes have one size (labels are cut with an ellipsis), which keeps both layouts simple.
import dagre from "@dagrejs/dagre";

/** The part of a serialized flow a layout needs. */
export interface GraphShape {
  readonly tasks: readonly { readonly slug: string; readonly name: string }[];
  readonly edges: readonly { readonly upstream: string; readonly downstream: string }[];
}

export interface PlacedNode {
  readonly slug: string;
  /** The box's centre. */
  readonly x: number;
  readonly y: number;
}

export interface PlacedEdge {
  readonly from: string;
  readonly to: string;
  /** An SVG path ("M x y L …" or a cubic curve). */
  readonly path: string;
}

export interface GraphLayout {
  readonly nodes: readonly PlacedNode[];
  readonly edges: readonly PlacedEdge[];
  readonly width: number;
  readonly height: number;
  /** Which layout ran (shown in a title, and read by benchmarks). */
  readonly engine: "dagre" | "layered";
}

/** Every node's box. */
export const NODE_WIDTH = 180;
export const NODE_HEIGHT = 44;
const RANK_GAP = 60;
const NODE_GAP = 16;
const MARGIN = 20;

/** Above this many tasks, the fast layered layout replaces dagre. */
export const DAGRE_MAX_NODES = 100;

/** Lays out a graph: dagre for small graphs, `layeredLayout` for big ones. */
export function layoutGraph(graph: GraphShape): GraphLayout {
  return graph.tasks.length <= DAGRE_MAX_NODES ? dagreLayout(graph) : layeredLayout(graph);
}

/** dagre's layout (network-simplex ranks, crossing reduction, Brandes–Köpf positions). */
export function dagreLayout(graph: GraphShape): GraphLayout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({
    rankdir: "LR",
    nodesep: NODE_GAP,
    ranksep: RANK_GAP,
    marginx: MARGIN,
    marginy: MARGIN,
  });
  g.setDefaultEdgeLabel(() => ({}));
  for (const t of graph.tasks) g.setNode(t.slug, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const e of graph.edges) {
    if (g.hasNode(e.upstream) && g.hasNode(e.downstream)) g.setEdge(e.upstream, e.downstream);
  }
  dagre.layout(g);
  const nodes = graph.tasks.map((t) => {
    const n = g.node(t.slug);
    return { slug: t.slug, x: n.x, y: n.y };
  });
  const edges = g.edges().map((e: { v: string; w: string }) => {
    const points = g.edge(e).points ?? [];
    return {
      from: e.v,
      to: e.w,
      path: points
        .map(
          (p: { x: number; y: number }, i: number) =>
            `${i === 0 ? "M" : "L"}${p.x.toFixed(1)} ${p.y.toFixed(1)}`,
        )
        .join(" "),
    };
  });
  const box = g.graph();
  return { nodes, edges, width: box.width ?? 0, height: box.height ?? 0, engine: "dagre" };
}

/** A fast layered layout for big graphs (see the header). */
export function layeredLayout(graph: GraphShape): GraphLayout {
  const n = graph.tasks.length;
  const index = new Map<string, number>();
  for (let i = 0; i < n; i++) index.set(graph.tasks[i]!.slug, i);
  const ups: number[][] = Array.from({ length: n }, () => []);
  const downs: number[][] = Array.from({ length: n }, () => []);
  const indegree = new Int32Array(n);
  for (const e of graph.edges) {
    const u = index.get(e.upstream);
    const d = index.get(e.downstream);
    if (u === undefined || d === undefined || u === d) continue;
    ups[d]!.push(u);
    downs[u]!.push(d);
    indegree[d]!++;
  }
  // Longest-path ranks by Kahn's walk (a flow's graph is acyclic; a node left unvisited, which
  // only a malformed graph has, gets rank 0).
  const rank = new Int32Array(n);
  const queue: number[] = [];
  for (let i = 0; i < n; i++) if (indegree[i] === 0) queue.push(i);
  for (let head = 0; head < queue.length; head++) {
    const u = queue[head]!;
    for (const d of downs[u]!) {
      if (rank[u]! + 1 > rank[d]!) rank[d] = rank[u]! + 1;
      if (--indegree[d]! === 0) queue.push(d);
    }
  }
  let ranks = 0;
  for (let i = 0; i < n; i++) ranks = Math.max(ranks, rank[i]! + 1);
  const layers: number[][] = Array.from({ length: ranks }, () => []);
  for (let i = 0; i < n; i++) layers[rank[i]!]!.push(i);
  // Order within ranks: a down sweep by upstream barycentres, then an up sweep by downstream ones.
  const pos = new Float64Array(n);
  for (const layer of layers) {
    for (let i = 0; i < layer.length; i++) pos[layer[i]!] = i;
  }
  const sweep = (layer: number[], neighbours: number[][]) => {
    const key = new Float64Array(layer.length);
    layer.forEach((v, i) => {
      const ns = neighbours[v]!;
      if (ns.length === 0) key[i] = pos[v]!;
      else {
        let sum = 0;
        for (const u of ns) sum += pos[u]!;
        key[i] = sum / ns.length;
      }
    });
    const order = layer.map((_, i) => i).sort((a, b) => key[a]! - key[b]!);
    const sorted = order.map((i) => layer[i]!);
    for (let i = 0; i < sorted.length; i++) pos[sorted[i]!] = i;
    return sorted;
  };
  for (let r = 1; r < ranks; r++) layers[r] = sweep(layers[r]!, ups);
  for (let r = ranks - 2; r >= 0; r--) layers[r] = sweep(layers[r]!, downs);
  let tallest = 0;
  for (const layer of layers) tallest = Math.max(tallest, layer.length);
  const column = NODE_HEIGHT + NODE_GAP;
  const height = tallest * column - NODE_GAP + 2 * MARGIN;
  const xs = new Float64Array(n);
  const ys = new Float64Array(n);
  layers.forEach((layer, r) => {
    // Each rank is centred vertically.
    const top = MARGIN + ((tallest - layer.length) * column) / 2;
    layer.forEach((v, i) => {
      xs[v] = MARGIN + r * (NODE_WIDTH + RANK_GAP) + NODE_WIDTH / 2;
      ys[v] = top + i * column + NODE_HEIGHT / 2;
    });
  });
  const nodes = graph.tasks.map((t, i) => ({ slug: t.slug, x: xs[i]!, y: ys[i]! }));
  const edges: PlacedEdge[] = [];
  for (let u = 0; u < n; u++) {
    for (const d of downs[u]!) {
      const x1 = xs[u]! + NODE_WIDTH / 2;
      const x2 = xs[d]! - NODE_WIDTH / 2;
      const mid = (x1 + x2) / 2;
      edges.push({
        from: graph.tasks[u]!.slug,
        to: graph.tasks[d]!.slug,
        path: `M${x1} ${ys[u]} C${mid} ${ys[u]} ${mid} ${ys[d]} ${x2} ${ys[d]}`,
      });
    }
  }
  const width = Math.max(0, ranks * (NODE_WIDTH + RANK_GAP) - RANK_GAP) + 2 * MARGIN;
  return { nodes, edges, width, height, engine: "layered" };
}
