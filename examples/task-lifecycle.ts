// The task lifecycle: loops, signals and state handlers, in a small sync job.
//
// - fetch-all pages through a (simulated) API with Loop: each iteration reads
//   context().loop (count = the page, result = the rows so far) and throws Loop
//   until the last page; its states read Running, Looped, Looped, Success.
// - wait-for-export polls a job with Retry until it is done: forced retries do
//   not need `retries`, and are bounded by maxLoops.
// - skip-if-fresh ends Success early with Succeed when there is nothing to do.
// - every task logs its state changes through a state handler, and would post
//   to the webhook named by WEFT_EXAMPLE_HOOK_URL if it failed (a notification
//   that cannot be sent is a warning, never a failure).
//
//   node bin/weft.js run examples/task-lifecycle.ts
//   node bin/weft.js run examples/task-lifecycle.ts --param pages=5
import {
  context,
  flow,
  Loop,
  notify,
  parameter,
  Retry,
  type StateHandler,
  Succeed,
  task,
} from "weftflow";

const logChanges: StateHandler = (subject, oldState, newState) => {
  subject.logger.info(`${oldState.type} → ${newState.type}`);
};
const onStateChange = [
  logChanges,
  notify.webhook("env:WEFT_EXAMPLE_HOOK_URL", { on: ["Failed"], retries: 1 }),
];

const fetchAll = task(
  "fetch-all",
  (pages: number): string[] => {
    const { count, result } = context().loop;
    const rows = [...((result as string[] | undefined) ?? []), `row from page ${count}`];
    if (count < pages) throw new Loop({ result: rows, message: `page ${count} of ${pages}` });
    return rows;
  },
  { onStateChange, maxLoops: 100 },
);

const waitForExport = task(
  "wait-for-export",
  (rows: string[]) => {
    // The export "finishes" on the third look.
    if (context().attempt < 3) throw new Retry({ delay: 10, message: "export still running" });
    return `exported ${rows.length} rows`;
  },
  { onStateChange },
);

const skipIfFresh = task(
  "skip-if-fresh",
  (summary: string): string => {
    throw new Succeed({ result: `${summary}; cache already fresh`, message: "nothing to refresh" });
  },
  { onStateChange },
);

export const lifecycle = flow("task-lifecycle", () => {
  const rows = fetchAll(parameter("pages", 3));
  return skipIfFresh(waitForExport(rows));
});
