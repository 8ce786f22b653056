// How long loading a flow from S3 storage takes in a fresh process, as an
// agent's `weft execute` does it: cold (empty cache: load the AWS SDK, GET the
// object, verify its hash, cache it, import it) and warm (the verified bundle
// is in the cache: verify and import; the SDK is never loaded).
//
//   node --import tsx bench/storage/s3-load.ts [--runs N]
//
// The store is the one named by WEFT_TEST_S3_ENDPOINT (with
// WEFT_TEST_S3_ACCESS_KEY / WEFT_TEST_S3_SECRET_KEY; CI starts Ceph radosgw
// with .ci/ceph-rgw.sh), otherwise s3rver in this process. Each run is a child
// process that rebuilds the storage from its JSON (WEFT_STORAGE), with
// WEFT_HOME pointing at the cache under test, and reports `startup_ms` (node +
// tsx + weft imported), `load_ms` (storage.getRunner) and `run_ms` (one run of
// the loaded flow, checked to succeed). The parent adds the child's wall time
// (spawn to exit). Loopback only: the figures are weft's and the SDK's, not a network's.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { S3TestServer } from "../../test/storage/s3-server.ts";

const SELF = fileURLToPath(import.meta.url);
const REPO_ROOT = resolve(dirname(SELF), "..", "..");

interface Sample {
  startup_ms: number;
  load_ms: number;
  run_ms: number;
  wall_ms: number;
}

async function child(): Promise<void> {
  const { storageFromJSON } = await import("weftflow");
  // performance.now() counts from the process's start: node, tsx and weft are loaded by now.
  const imported = performance.now();
  const storage = storageFromJSON(JSON.parse(process.env.WEFT_STORAGE ?? "null"));
  const t0 = performance.now();
  const runner = await storage.getRunner(process.env.WEFT_FLOW_LOCATION ?? "");
  const t1 = performance.now();
  const run = await runner.run({ parameters: { n: 2 } });
  const t2 = performance.now();
  if (run.state.type !== "Success" || run.outputs !== "s3 says 4") {
    process.stderr.write(`s3-load: the loaded flow ended ${run.state.type}\n`);
    process.exit(1);
  }
  process.stdout.write(
    `${JSON.stringify({ startup_ms: imported, load_ms: t1 - t0, run_ms: t2 - t1 })}\n`,
  );
}

function sample(env: Record<string, string>): Promise<Sample> {
  const started = performance.now();
  const proc = spawn(process.execPath, ["--import", "tsx", SELF, "--child"], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  proc.stdout.on("data", (d: Buffer) => (out += d));
  return new Promise((resolvePromise, reject) => {
    proc.on("close", (code) => {
      if (code !== 0) return reject(new Error(`child exited with ${code}`));
      resolvePromise({ ...JSON.parse(out), wall_ms: performance.now() - started });
    });
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const runsArg = process.argv.indexOf("--runs");
  const runs = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 5;
  if (!Number.isInteger(runs) || runs < 1) {
    process.stderr.write("usage: node --import tsx bench/storage/s3-load.ts [--runs N]\n");
    process.exit(2);
  }
  const root = mkdtempSync(join(tmpdir(), "weft-bench-s3-"));
  let server: S3TestServer | undefined;
  try {
    // Imported here, not at the top: the children run this file too, and must not
    // load the SDK (or s3rver) before the clock starts.
    const { startS3TestServer } = await import("../../test/storage/s3-server.ts");
    server = await startS3TestServer();
    // Credentials reach the storage only through the SDK's default chain, here and in the children.
    process.env.AWS_ACCESS_KEY_ID = server.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = server.secretAccessKey;
    const { createS3Storage } = await import("weftflow");
    const { s3Flow } = await import("../../test/fixtures/storage/s3-flow.ts");
    const bucket = await server.createBucket("weft-bench");
    const storage = createS3Storage({
      bucket,
      prefix: "bench",
      endpoint: server.endpoint,
      cacheDir: join(root, "build-cache"),
    });
    const location = storage.addFlow(s3Flow);
    await storage.build();
    const env = (home: string) => ({
      WEFT_HOME: home,
      WEFT_STORAGE: JSON.stringify(storage.toJSON()),
      WEFT_FLOW_LOCATION: location,
    });

    const cold: Sample[] = [];
    const warm: Sample[] = [];
    for (let i = 0; i < runs; i++) {
      const home = join(root, `home-${i}`);
      cold.push(await sample(env(home)));
      warm.push(await sample(env(home)));
    }
    const rows = [
      ["case", "runs", "load_ms", "startup_ms", "run_ms", "wall_ms", "load_ms_min", "load_ms_max"],
      ...(
        [
          ["cold", cold],
          ["warm", warm],
        ] as const
      ).map(([name, xs]) => [
        name,
        String(xs.length),
        median(xs.map((x) => x.load_ms)).toFixed(1),
        median(xs.map((x) => x.startup_ms)).toFixed(1),
        median(xs.map((x) => x.run_ms)).toFixed(1),
        median(xs.map((x) => x.wall_ms)).toFixed(1),
        Math.min(...xs.map((x) => x.load_ms)).toFixed(1),
        Math.max(...xs.map((x) => x.load_ms)).toFixed(1),
      ]),
    ];
    process.stdout.write(`${rows.map((r) => r.join("\t")).join("\n")}\n`);
    process.stdout.write(
      `# medians over ${runs} fresh processes each; ${server.kind === "s3rver" ? "s3rver in process" : `S3 at ${server.endpoint}`}, node ${process.version}\n`,
    );
  } finally {
    await server?.close();
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv.includes("--child")) await child();
else await main();
