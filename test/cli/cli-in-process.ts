// Runs the `weft` command in this process, as main() with captured streams: no
// child process to start (most of a second of CPU each), same parsing, output
// and exit codes. The results have the shape of cli-process.ts's, so its
// assertions (assertCliError) apply.
import { Writable } from "node:stream";
import type { CliContext } from "../../src/cli/context.ts";
import { main } from "../../src/cli/main.ts";
import type { CliResult } from "./cli-process.ts";

function capture(): { stream: Writable; text: () => string } {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

/** Runs `weft ...args` through main() in this process and returns what it printed and its exit code. */
export async function runInProcess(args: readonly string[]): Promise<CliResult> {
  const stdout = capture();
  const stderr = capture();
  const cli: CliContext = {
    stdout: stdout.stream,
    stderr: stderr.stream,
    exitCode: 0,
    onInterrupt: () => () => {},
  };
  const code = await main(args, cli);
  return { code, signal: null, stdout: stdout.text(), stderr: stderr.text() };
}
