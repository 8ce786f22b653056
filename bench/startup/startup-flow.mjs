// startup-flow.ts as plain JavaScript: `weft run` imports it without tsx, so
// the two rows of the benchmark differ by what loading TypeScript costs.
import { flow, task } from "weftflow";

const extract = task("extract", () => [1, 2, 3]);
const transform = task("transform", (xs) => xs.map((x) => x * 2));
const load = task("load", (xs) => xs.reduce((a, b) => a + b, 0));

/** extract → transform → load; outputs { total: 12 }. */
export const startupFlow = flow("startup-bench", () => ({ total: load(transform(extract())) }));
