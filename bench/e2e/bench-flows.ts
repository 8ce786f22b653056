// Flows of the end-to-end benchmark: one trivial task each. One flow per row, so
// each can be registered with its own environment.
import { flow, task } from "weftflow";

const one = task("one", () => 1);

/** Registered with the local environment (runs in the agent's process). */
export const benchLocal = flow("e2e-bench-local", () => one());
/** Registered with the subprocess environment (a `weft execute` child per run). */
export const benchSubprocess = flow("e2e-bench-subprocess", () => one());
/** Registered with the local environment, for the throughput row. */
export const benchThroughput = flow("e2e-bench-throughput", () => one());
