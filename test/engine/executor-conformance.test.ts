// The executor conformance suite (executor.case.ts) on the executors that run
// in this process or its threads; the distributed one runs it in
// test/engine/distributed/distributed-conformance.test.ts.
import { runExecutorConformance } from "./executor.case.ts";

const inProcessSkips = {
  "a result that cannot leave its thread or process fails with VALUE_NOT_CLONEABLE":
    "values never leave the flow-run thread: a function is a fine result in process",
} as const;

runExecutorConformance(
  "serial",
  async () => ({ run: (flow, options) => flow.run({ ...options, executor: "serial" }) }),
  { skip: inProcessSkips },
);

runExecutorConformance(
  "concurrent",
  async () => ({ run: (flow, options) => flow.run({ ...options, executor: "concurrent" }) }),
  { skip: inProcessSkips },
);

runExecutorConformance("worker-threads", async () => ({
  run: (flow, options) =>
    flow.run({ ...options, executor: { type: "worker-threads", maxWorkers: 2 } }),
}));
