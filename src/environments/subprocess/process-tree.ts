import type { ChildProcess } from "node:child_process";

/** Sends `signal` to a detached child's whole process group (the child and everything it started). */
export function signalTree(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}

/** How a process ended, in words, from its exit code, signal and the tail of its stderr. */
export function describeExit(
  code: number | null,
  signal: NodeJS.Signals | null,
  stderrTail: readonly string[],
  heapLimitMb?: number,
): string {
  const tail = stderrTail.join("\n");
  if (/heap out of memory|Reached heap limit|Allocation failed/i.test(tail)) {
    return `the flow-run process ran out of memory${heapLimitMb === undefined ? "" : ` (heap limit ${heapLimitMb} MB)`}`;
  }
  if (signal !== null) return `the flow-run process was killed by ${signal}`;
  const lastError = [...stderrTail].reverse().find((line) => line.startsWith("error:"));
  if (code === 2)
    return `the flow-run process refused its inputs${lastError ? `: ${lastError.slice(7)}` : ""}`;
  if (code === 0) return "the flow-run process exited 0 without reporting a final state";
  return `the flow-run process exited with code ${code}${lastError ? `: ${lastError.slice(7)}` : ""}`;
}
