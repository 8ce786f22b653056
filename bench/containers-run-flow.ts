// The flow of the container run benchmark (bench/containers-run.ts): one trivial task.
import { flow, task } from "weftflow";

const one = task("one", () => 1);

/** Run in a container, one task. */
export const benchContainer = flow("containers-bench-run", () => one());
