// The flow the environment benchmark runs: one trivial task, so that what is
// measured is the environment's overhead up to the first task, not the flow.
import { flow, task } from "weftflow";

const first = task("first", () => 1);
const second = task("second", (x: number) => x + 1);

/** first → second. */
export const startFlow = flow("bench-start", () => ({ done: second(first()) }));
