// Why a flow-run process died, as the agent writes it to the run's logs and as run health reads
// it back: a crashed run gets no final state from its agent (run health decides whether it runs
// again), so the reason travels as one error log line of this form, and run health's message
// names it ("… after the flow-run process died: out of memory …").

const PREFIX = "the flow-run process died (";
const SUFFIX = "); the server's run health will reschedule it";

/** The log line an agent writes for a run whose process died for `reason`. */
export function crashLogMessage(reason: string): string {
  return `${PREFIX}${reason}${SUFFIX}`;
}

/** The reason in a crash log line, or undefined for any other line. */
export function crashReasonOf(message: string): string | undefined {
  if (!message.startsWith(PREFIX) || !message.endsWith(SUFFIX)) return undefined;
  return message.slice(PREFIX.length, message.length - SUFFIX.length);
}
