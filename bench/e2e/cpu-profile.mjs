// Preloaded (NODE_OPTIONS=--import) into the weft processes of `bench:e2e --profile <dir>`:
// Node 20 refuses --cpu-prof in NODE_OPTIONS, so this starts the V8 profiler through the
// in-process inspector and writes <dir>/<argv>-<pid>.cpuprofile when the process exits.
// Decisions: the main thread's inspector session answers synchronously, so the profile
// can be stopped and written inside the 'exit' handler.
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { join } from "node:path";

const dir = process.env.WEFT_BENCH_PROFILE_DIR;
if (dir !== undefined) {
  const session = new Session();
  session.connect();
  session.post("Profiler.enable");
  session.post("Profiler.setSamplingInterval", { interval: 200 });
  session.post("Profiler.start");
  process.on("exit", () => {
    session.post("Profiler.stop", (error, result) => {
      if (error) return;
      const name = process.argv
        .slice(2, 4)
        .join("-")
        .replace(/[^\w-]/g, "_");
      writeFileSync(join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
