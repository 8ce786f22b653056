// Runs whose task bodies run in this thread are watched for tasks that never
// settle: when the event loop empties while such a run has tasks in flight,
// nothing is left that could settle them (Node would end the process with
// exit code 13 and no word), so the run abandons them (they end Failed) and
// finishes. One "beforeExit" listener serves every watched run, and is removed
// when none is left, so an idle process holds no listener. A walk starts its
// watch the first time it waits for a task's promise (graph-walk.ts), so a run
// of synchronous task bodies never touches the listener.

/** A run that can give up on its tasks in flight. */
export interface Abandonable {
  /** Called when the event loop is empty: every task still in flight can no longer settle. */
  abandonUnsettled(): void;
}

const watched = new Set<Abandonable>();

function onBeforeExit(): void {
  for (const run of watched) run.abandonUnsettled();
}

/** Watches `run` until the returned function is called. */
export function watchUnsettled(run: Abandonable): () => void {
  if (watched.size === 0) process.on("beforeExit", onBeforeExit);
  watched.add(run);
  return () => {
    watched.delete(run);
    if (watched.size === 0) process.off("beforeExit", onBeforeExit);
  };
}
