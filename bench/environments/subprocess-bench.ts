// The environment benchmark: start overhead, from `environment.execute()`
// called to the first task Running, for the subprocess environment (a fresh
// `weft execute` per run) and for the local environment (this process).
//
//   node --import tsx --conditions=weftflow-source bench/environments/subprocess-bench.ts [--runs N]
//
// Two measures per run, both against the moment `execute` was called:
//   first_task_ms  the first task's Running state timestamp (taken where the
//                  task runs: in the child for subprocess)
//   heard_ms       when the parent's reporter heard that event
// plus total_ms, the whole execute (to the final state and the child's exit).
// One warm-up run per environment is not counted (it fills the bundle cache).
//
// TSV on stdout (header first), progress on stderr. Where a `weft execute`
// child's start goes (phases, CPU profiles) is bench/startup's --profile.
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { Environment } from "../../src/environments/environment.ts";
import { createLocalEnvironment } from "../../src/environments/local-environment.ts";
import { createSubprocessEnvironment } from "../../src/environments/subprocess/subprocess-environment.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import { createMemoryStorage } from "../../src/storage/memory-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { startFlow } from "./bench-flow.ts";
import { type ExecuteSample as Sample, timeExecute } from "./execute-timing.ts";

const TARGET_P50_MS = 300;

function option(name: string): string | undefined {
  const at = process.argv.indexOf(name);
  return at === -1 ? undefined : process.argv[at + 1];
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

async function measure(
  label: string,
  environment: Environment,
  storage: Storage,
  home: string,
  runs: number,
): Promise<Sample[]> {
  const location = storage.addFlow(startFlow);
  await storage.build();
  await environment.setup(storage);
  await timeExecute(environment, storage, location, home); // warm-up: fills the child's bundle cache
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    samples.push(await timeExecute(environment, storage, location, home));
    process.stderr.write(`\r${label}: ${i + 1}/${runs}`);
  }
  process.stderr.write("\n");
  return samples;
}

function row(label: string, storage: string, samples: readonly Sample[]): string {
  const cells = (pick: (s: Sample) => number) => {
    const values = samples.map(pick);
    return [
      percentile(values, 50),
      percentile(values, 95),
      Math.min(...values),
      Math.max(...values),
    ];
  };
  return [
    label,
    storage,
    samples.length,
    ...cells((s) => s.firstTaskMs),
    ...cells((s) => s.heardMs),
    percentile(
      samples.map((s) => s.totalMs),
      50,
    ),
  ].join("\t");
}

// --------------------------------------------------------------------- main

async function main(): Promise<void> {
  const runs = Number(option("--runs") ?? 20);
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a positive integer");
  const tmp = mkdtempSync(join(tmpdir(), "weft-env-bench-"));
  const home = join(tmp, "home");
  try {
    const local = () =>
      createLocalStorage({
        directory: join(tmp, "flows"),
        cacheDir: join(tmp, "cache"),
        hostnameLabel: false,
      });
    process.stderr.write(
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}\n`,
    );
    const subprocess = await measure(
      "subprocess",
      createSubprocessEnvironment(),
      local(),
      home,
      runs,
    );
    const inProcessMemory = await measure(
      "local",
      createLocalEnvironment(),
      createMemoryStorage(),
      home,
      runs,
    );
    const inProcessLocal = await measure("local", createLocalEnvironment(), local(), home, runs);
    console.log(
      [
        "environment",
        "storage",
        "runs",
        "first_task_p50_ms",
        "first_task_p95_ms",
        "first_task_min_ms",
        "first_task_max_ms",
        "heard_p50_ms",
        "heard_p95_ms",
        "heard_min_ms",
        "heard_max_ms",
        "total_p50_ms",
      ].join("\t"),
    );
    console.log(row("subprocess", "local", subprocess));
    console.log(row("local", "memory", inProcessMemory));
    console.log(row("local", "local", inProcessLocal));
    const p50 = percentile(
      subprocess.map((s) => s.firstTaskMs),
      50,
    );
    process.stderr.write(
      `subprocess first-task p50 ${p50} ms: ${p50 <= TARGET_P50_MS ? "within" : "above"} the ${TARGET_P50_MS} ms target\n`,
    );
    process.stderr.write(
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}\n`,
    );
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
