// The flow of the start-up benchmark: three trivial tasks (extract → transform →
// load), so that what `weft run` costs is weft's start, not the flow's work.
// startup-flow.mjs is the same flow as plain JavaScript.
import { flow, task } from "weftflow";

const extract = task("extract", () => [1, 2, 3]);
const transform = task("transform", (xs: number[]) => xs.map((x) => x * 2));
const load = task("load", (xs: number[]) => xs.reduce((a, b) => a + b, 0));

/** extract → transform → load; outputs { total: 12 }. */
export const startupFlow = flow("startup-bench", () => ({ total: load(transform(extract())) }));
