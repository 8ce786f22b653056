// weft build, weft inspect and weft execute, as agents and users run them:
// in process (test/support/cli.ts) with WEFT_HOME in a temporary directory so
// that nothing touches ~/.weft; the build that the execute tests load runs as a
// real process, so that what they load crossed a process boundary as JSON.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { parseSerializedFlow } from "../../src/serialization/index.ts";
import { storageFromJSON } from "../../src/storage/registry.ts";
import { runCli } from "../support/cli.ts";
import type { CliResult } from "../support/cli-result.ts";
import { reapAll, runWeft } from "../support/weft-process.ts";

/** A value that must never be printed: it is set in the environment of every command below. */
const SECRET = `s3cr3t-${randomUUID()}`;
const SECRET_ENV = {
  WEFT_TEST_SECRET_TOKEN: SECRET,
  AWS_SECRET_ACCESS_KEY: SECRET,
  WEFT_API_TOKEN: SECRET,
};

type Result = CliResult;

/** Nothing a command prints may hold a secret of its environment. */
function noSecret(args: readonly string[], result: Result): Result {
  assert.ok(
    !result.stdout.includes(SECRET) && !result.stderr.includes(SECRET),
    `weft ${args.join(" ")} printed a secret of its environment`,
  );
  return result;
}

/** Runs `weft ...args` in process with `env` (and the secrets) set. */
async function weft(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
): Promise<Result> {
  return noSecret(args, await runCli(args, { env: { ...SECRET_ENV, ...env } }));
}

/** Asserts the one-line error format and its code. */
function assertError(result: Result, exitCode: number, code: string): void {
  assert.equal(result.code, exitCode, `exit code (stderr: ${result.stderr})`);
  assert.match(result.stderr, new RegExp(`^error: .+ \\(${code}\\)$`, "m"), result.stderr);
  assert.doesNotMatch(result.stderr, /^\s+at /m, "no stack without --verbose");
}

interface BuildJson {
  storage: Record<string, unknown> & { type: string };
  labels: string[];
  flows: { flow: string; location: string }[];
}

let tmp = "";
let home = "";
/** One build of examples/etl.ts into a local storage, shared by the execute tests. */
let built: Promise<BuildJson>;

before(async () => {
  tmp = await mkdtemp(join(tmpdir(), "weft-storage-cli-"));
  home = join(tmp, "home");
  const args = [
    "build",
    "examples/etl.ts",
    "--storage",
    "local",
    "--dir",
    join(tmp, "shared"),
    "--json",
  ];
  // A real process (the command's smoke test too): the execute tests load what it built.
  built = runWeft(args, { env: { ...SECRET_ENV, WEFT_HOME: home } }).then((result) => {
    noSecret(args, result);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout) as BuildJson;
  });
});

after(async () => {
  reapAll();
  await rm(tmp, { recursive: true, force: true });
});

/** The variables an agent sets for `weft execute`, from a build. */
async function executeEnv(extra: Record<string, string> = {}): Promise<Record<string, string>> {
  const build = await built;
  return {
    WEFT_HOME: join(tmp, `exec-home-${randomUUID()}`),
    WEFT_FLOW_LOCATION: build.flows[0]!.location,
    WEFT_STORAGE: JSON.stringify(build.storage),
    ...extra,
  };
}

describe("weft build", { concurrency: true }, () => {
  test("prints each flow's location and the host name label", async () => {
    const dir = join(tmp, `build-${randomUUID()}`);
    const result = await weft(["build", "examples/etl.ts", "--storage", "local", "--dir", dir], {
      WEFT_HOME: home,
    });
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trimEnd().split("\n");
    assert.match(lines[0]!, /^FLOW\s+LOCATION\s+LABELS$/);
    const [flowName, location, labels] = lines[1]!.split(/\s+/);
    assert.equal(flowName, "etl");
    assert.match(location!, /^[0-9a-f]{64}\.mjs#etl$/);
    assert.equal(labels, hostname());
    assert.match(
      result.stderr,
      new RegExp(`built into local storage ${dir} \\(labels: ${hostname()}\\)`),
    );
    assert.deepEqual(await readdir(dir), [location!.split("#")[0]]);
  });

  test("--no-hostname-label drops the label", async () => {
    const dir = join(tmp, `nolabel-${randomUUID()}`);
    const result = await weft(
      ["build", "examples/etl.ts", "--storage", "local", "--dir", dir, "--no-hostname-label"],
      { WEFT_HOME: home },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.ok(!result.stdout.includes(hostname()), result.stdout);
    assert.ok(!result.stderr.includes("labels:"), result.stderr);
    assert.match(result.stdout.split("\n")[1] ?? "", /^etl\s+[0-9a-f]{64}\.mjs#etl$/);
  });

  test("--json prints one JSON document: storage, labels and locations", async () => {
    const build = await built;
    assert.equal(build.storage.type, "local");
    assert.equal(build.storage.directory, join(tmp, "shared"));
    assert.equal(build.storage.hostnameLabel, true);
    assert.deepEqual(build.labels, [hostname()]);
    assert.equal(build.flows.length, 1);
    assert.equal(build.flows[0]!.flow, "etl");
    assert.deepEqual(build.storage.flows, { etl: build.flows[0]!.location });
    // The storage JSON is what agents pass on: it must load back.
    assert.deepEqual(storageFromJSON(build.storage).toJSON(), build.storage);
  });

  test("without --dir, bundles go to $WEFT_HOME/flows", async () => {
    const ownHome = join(tmp, `home-${randomUUID()}`);
    const result = await weft(["build", "examples/map.ts", "--storage", "local", "--json"], {
      WEFT_HOME: ownHome,
    });
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout) as BuildJson;
    assert.equal(json.storage.directory, join(ownHome, "flows"));
    assert.equal((await readdir(join(ownHome, "flows"))).length, 1);
  });

  test("building the same file twice gives the same location", async () => {
    const dir = join(tmp, `twice-${randomUUID()}`);
    const args = ["build", "examples/etl.ts", "--storage", "local", "--dir", dir, "--json"];
    const first = await weft(args, { WEFT_HOME: home });
    const second = await weft(args, { WEFT_HOME: home });
    assert.equal(first.code, 0, first.stderr);
    assert.deepEqual(
      (JSON.parse(second.stdout) as BuildJson).flows,
      (JSON.parse(first.stdout) as BuildJson).flows,
    );
    assert.equal((await readdir(dir)).length, 1);
  });

  test("an unknown --storage kind exits 2 naming it and the known kinds", async () => {
    const result = await weft(["build", "examples/etl.ts", "--storage", "floppy"], {
      WEFT_HOME: home,
    });
    assertError(result, 2, "UNKNOWN_TYPE");
    assert.match(result.stderr, /"floppy"/);
    assert.match(result.stderr, /known: .*local/);
    assert.equal(result.stdout, "");
  });

  test("--storage is required", async () => {
    const result = await weft(["build", "examples/etl.ts"], { WEFT_HOME: home });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /--storage/);
  });
});

describe("weft inspect", { concurrency: true }, () => {
  test("prints the flow as valid serialized JSON", async () => {
    const result = await weft(["inspect", "examples/map.ts"], { WEFT_HOME: home });
    assert.equal(result.code, 0, result.stderr);
    const json = parseSerializedFlow(JSON.parse(result.stdout));
    assert.equal(json.name, "sensors");
    assert.equal(json.location, undefined);
    assert.deepEqual(
      json.parameters.map((p) => [p.name, p.default]),
      [
        ["count", 12],
        ["day", "2024-06-01"],
      ],
    );
    const edge = (down: string, key: number) =>
      json.edges.find((e) => e.downstream === down && e.key === key);
    assert.deepEqual(edge("read-sensor-1", 0), {
      upstream: "list-sensors-1",
      downstream: "read-sensor-1",
      key: 0,
      mapped: true,
    });
    assert.equal(edge("read-sensor-1", 1)?.mapped, false, "unmapped(day)");
    assert.equal(edge("calibrate-1", 0)?.mapped, true);
    assert.equal(edge("calibrate-1", 1)?.mapped, false, "unmapped(offset)");
    assert.equal(edge("summarize-1", 0)?.mapped, false);
    assert.deepEqual(json.referenceTasks, ["summarize-1"]);
  });

  test("with --storage, the output holds the storage, the location and the labels", async () => {
    const dir = join(tmp, `inspect-${randomUUID()}`);
    const result = await weft(["inspect", "examples/etl.ts", "--storage", "local", "--dir", dir], {
      WEFT_HOME: home,
    });
    assert.equal(result.code, 0, result.stderr);
    const json = parseSerializedFlow(JSON.parse(result.stdout));
    assert.equal(json.storage?.type, "local");
    assert.match(json.location ?? "", /^[0-9a-f]{64}\.mjs#etl$/);
    assert.deepEqual(json.labels, [hostname()]);
    assert.deepEqual(await readdir(dir), [json.location!.split("#")[0]]);
  });
});

describe("weft execute", { concurrency: true }, () => {
  test("runs the flow from WEFT_FLOW_LOCATION and WEFT_STORAGE of a build (exit 0)", async () => {
    const report = join(tmp, `report-${randomUUID()}.md`);
    const result = await weft(
      ["execute"],
      await executeEnv({
        WEFT_PARAMETERS: JSON.stringify({ output: report }),
        WEFT_FLOW_RUN_ID: "run-from-env",
      }),
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /flow etl running \(run run-from-env/);
    assert.match(result.stderr, /flow etl Success/);
    assert.match(await readFile(report, "utf8"), /^# Orders report/);
  });

  test("a failing flow run exits 1, and --verbose prints no secret either", async () => {
    const result = await weft(
      ["--verbose", "execute"],
      await executeEnv({ WEFT_PARAMETERS: JSON.stringify({ input: join(tmp, "no-such.csv") }) }),
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /no-such\.csv/);
  });

  test("missing WEFT_STORAGE exits 2 naming the variable", async () => {
    const result = await weft(["execute"], await executeEnv({ WEFT_STORAGE: "" }));
    assertError(result, 2, "ENV_VAR_INVALID");
    assert.match(result.stderr, /WEFT_STORAGE is not set/);
    const unset = await weft(["execute"], { ...(await executeEnv()), WEFT_STORAGE: undefined });
    assertError(unset, 2, "ENV_VAR_INVALID");
    assert.match(unset.stderr, /WEFT_STORAGE/);
  });

  test("missing WEFT_FLOW_LOCATION exits 2 naming the variable", async () => {
    const result = await weft(["execute"], {
      ...(await executeEnv()),
      WEFT_FLOW_LOCATION: undefined,
    });
    assertError(result, 2, "ENV_VAR_INVALID");
    assert.match(result.stderr, /WEFT_FLOW_LOCATION is not set/);
  });

  test("malformed WEFT_STORAGE JSON exits 2", async () => {
    const result = await weft(["execute"], await executeEnv({ WEFT_STORAGE: '{"type":"local",' }));
    assertError(result, 2, "ENV_VAR_INVALID");
    assert.match(result.stderr, /WEFT_STORAGE is not valid JSON/);
  });

  test("an unknown storage type in WEFT_STORAGE exits 2 listing the known types", async () => {
    const result = await weft(
      ["execute"],
      await executeEnv({ WEFT_STORAGE: JSON.stringify({ type: "floppy", schemaVersion: 1 }) }),
    );
    assertError(result, 2, "UNKNOWN_TYPE");
    assert.match(result.stderr, /"floppy"/);
    for (const known of ["memory", "local", "module"])
      assert.match(result.stderr, new RegExp(known));
  });

  test("a malformed field in WEFT_STORAGE exits 2 naming the field", async () => {
    const build = await built;
    const result = await weft(
      ["execute"],
      await executeEnv({ WEFT_STORAGE: JSON.stringify({ ...build.storage, directory: 42 }) }),
    );
    assertError(result, 2, "INVALID_SERIALIZED");
    assert.match(result.stderr, /storage\.directory/);
  });

  test("a credential in WEFT_STORAGE exits 2 without printing it", async () => {
    const build = await built;
    const result = await weft(
      ["execute"],
      await executeEnv({ WEFT_STORAGE: JSON.stringify({ ...build.storage, secretKey: SECRET }) }),
    );
    assertError(result, 2, "CREDENTIAL_IN_CONFIG");
    assert.match(result.stderr, /storage\.secretKey/);
  });

  test("WEFT_PARAMETERS that is not a JSON object exits 2", async () => {
    for (const parameters of ["[1,2]", "null", "{nope"]) {
      const result = await weft(["execute"], await executeEnv({ WEFT_PARAMETERS: parameters }));
      assertError(result, 2, "ENV_VAR_INVALID");
      assert.match(result.stderr, /WEFT_PARAMETERS/, parameters);
    }
  });

  test("an unknown parameter exits 2", async () => {
    const result = await weft(
      ["execute"],
      await executeEnv({ WEFT_PARAMETERS: JSON.stringify({ nope: 1 }) }),
    );
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /nope/);
  });

  test("a location whose artifact is missing exits 1 with a clear message", async () => {
    const absent = `${"0".repeat(64)}.mjs`;
    const result = await weft(
      ["execute"],
      await executeEnv({ WEFT_FLOW_LOCATION: `${absent}#etl` }),
    );
    assertError(result, 1, "STORAGE_FLOW_MISSING");
    assert.ok(result.stderr.includes(absent), result.stderr);
    assert.ok(result.stderr.includes(join(tmp, "shared")), "names the directory");
  });

  test("a location naming a flow the bundle lacks exits 1", async () => {
    const build = await built;
    const artifact = build.flows[0]!.location.split("#")[0];
    const result = await weft(
      ["execute"],
      await executeEnv({ WEFT_FLOW_LOCATION: `${artifact}#not-etl` }),
    );
    assertError(result, 1, "STORAGE_FLOW_MISSING");
    assert.match(result.stderr, /"not-etl"/);
  });

  test("a load error keeps its hint line (which flows the bundle exports)", async () => {
    const build = await built;
    const artifact = build.flows[0]!.location.split("#")[0];
    const result = await weft(
      ["execute"],
      await executeEnv({ WEFT_FLOW_LOCATION: `${artifact}#not-etl` }),
    );
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /^hint: it exports: etl$/m);
  });

  test("a malformed or escaping WEFT_FLOW_LOCATION is bad input: exit 2", async () => {
    for (const [location, code] of [
      ["no-hash-here", "STORAGE_LOCATION_INVALID"],
      ["../../etc/passwd#etl", "STORAGE_LOCATION_ESCAPE"],
    ] as const) {
      const result = await weft(["execute"], await executeEnv({ WEFT_FLOW_LOCATION: location }));
      assertError(result, 2, code);
    }
  });
});
