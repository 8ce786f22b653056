// The storage conformance suite: one set of cases that every storage kind must
// pass, run by each kind's own test file (as Hono's router tests do):
//
//   runStorageConformance("local", ({ tmp }) =>
//     createLocalStorage({ directory: join(tmp, "flows"), cacheDir: join(tmp, "cache") }));
//
// A kind that cannot pass a case skips it by name with its reason
// (`skip: { [case name]: reason }`); node:test prints the reason with the skip.
// Every case gets fresh temporary directories (`ctx.tmp`), and WEFT_HOME points
// inside them while the suite runs, so nothing touches ~/.weft.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { storageFromJSON } from "../../src/storage/registry.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { conformanceFlow, greetFlow } from "../fixtures/storage/conformance-flows.ts";
import { otherFlow } from "../fixtures/storage/other-flow.ts";
import { expectCode } from "../support/expect-code.ts";

export { expectCode };

/** The repository root: module storages resolve the fixture module from here. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** The fixture module every kind stores, relative to {@link repoRoot}. */
export const CONFORMANCE_MODULE = "./test/fixtures/storage/conformance-flows.ts";

/** The flows the suite stores (all exported by {@link CONFORMANCE_MODULE}). */
export const CONFORMANCE_FLOWS = { main: conformanceFlow, greet: greetFlow } as const;

/** What `makeStorage` receives: a fresh directory of its own, removed after the case. */
export interface ConformanceContext {
  readonly tmp: string;
}

/** Options of {@link runStorageConformance}. */
export interface ConformanceOptions {
  /** Case name → why this kind skips it (printed by the test runner). */
  skip?: Readonly<Record<string, string>>;
  /**
   * Whether another process can load this kind's flows (through
   * `getEnvRunner(location).start()`, i.e. `weft execute`). A kind that cannot
   * must say so: `shareable` false and `getEnvRunner` refusing with
   * STORAGE_NOT_SHAREABLE. @default true
   */
  crossProcess?: boolean;
}

/** Every case of the suite, by the name that `skip` uses. */
export const CONFORMANCE_CASES = [
  "type is the kind and name is a non-empty string",
  "addFlow returns a location that flows and contains reflect",
  "loading before build() fails with STORAGE_NOT_BUILT",
  "build() then getRunner(location) runs the flow",
  "two flows of one module are both stored and both load",
  "the same code gets the same location (content addressing)",
  "a location escaping the storage fails with STORAGE_LOCATION_ESCAPE",
  "a malformed location fails with STORAGE_LOCATION_INVALID",
  "a location naming an absent flow fails with STORAGE_FLOW_MISSING",
  "toJSON() round-trips through storageFromJSON",
  "a storage rebuilt from JSON loads the flow",
  "a storage rebuilt from JSON runs the flow in a child process",
  "shareable and getEnvRunner agree with crossProcess",
  "labels are an array of strings",
] as const;
/** One of {@link CONFORMANCE_CASES}. */
export type ConformanceCase = (typeof CONFORMANCE_CASES)[number];

const CROSS_PROCESS_CASE: ConformanceCase =
  "a storage rebuilt from JSON runs the flow in a child process";
/** How long a `weft execute` child may take before it is killed (it starts tsx: seconds). */
const CHILD_TIMEOUT_MS = 60_000;

/** A fresh temporary directory, removed when `fn` is done. */
export async function withTmp<T>(label: string, fn: (tmp: string) => Promise<T>): Promise<T> {
  const tmp = await mkdtemp(join(tmpdir(), `weft-${label}-`));
  try {
    return await fn(tmp);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** What a finished child process left. */
export interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Collects a child's output until it ends; kills it by pid (and fails) after `timeoutMs`. */
export function waitForChild(
  child: ChildProcess,
  timeoutMs: number = CHILD_TIMEOUT_MS,
): Promise<ChildResult> {
  let stdout = "";
  let stderr = "";
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
      reject(new Error(`child ran over ${timeoutMs} ms\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Runs `fn` with process.env[name] set to `value`, restoring the previous value after. */
async function withEnv<T>(name: string, value: string, fn: () => Promise<T>): Promise<T> {
  const previous = process.env[name];
  process.env[name] = value;
  try {
    return await fn();
  } finally {
    if (previous === undefined) delete process.env[name];
    else process.env[name] = previous;
  }
}

/** The artifact part of a location (everything before the last `#`). */
function artifactOf(location: string): string {
  return location.slice(0, location.lastIndexOf("#"));
}

/**
 * Defines the conformance suite of one storage kind with node:test. Call it at
 * the top level of a test file; `makeStorage` is called once per storage a case
 * needs, with a fresh directory each time.
 */
export function runStorageConformance(
  kind: string,
  makeStorage: (ctx: ConformanceContext) => Promise<Storage> | Storage,
  options: ConformanceOptions = {},
): void {
  const skip: Readonly<Record<string, string>> = options.skip ?? {};
  const crossProcess = options.crossProcess ?? true;

  describe(`storage conformance: ${kind}`, () => {
    // Anything that falls back to $WEFT_HOME (a storage rebuilt from JSON has
    // no cacheDir) lands in a directory of the suite, never in ~/.weft.
    let suiteHome = "";
    let previousHome: string | undefined;
    before(async () => {
      suiteHome = await mkdtemp(join(tmpdir(), `weft-conformance-${kind}-home-`));
      previousHome = process.env.WEFT_HOME;
      process.env.WEFT_HOME = suiteHome;
    });
    after(async () => {
      if (previousHome === undefined) delete process.env.WEFT_HOME;
      else process.env.WEFT_HOME = previousHome;
      await rm(suiteHome, { recursive: true, force: true });
    });

    /** Registers one case, skipped with its reason when the kind asks. */
    const conformance = (
      name: ConformanceCase,
      fn: (make: () => Promise<Storage>, tmp: string) => Promise<void>,
      defaultSkip?: string,
    ) => {
      const reason = skip[name] ?? defaultSkip;
      if (reason !== undefined) {
        test(name, { skip: reason }, () => {});
        return;
      }
      test(name, async () => {
        const dirs: string[] = [];
        const make = async () => {
          const tmp = await mkdtemp(join(tmpdir(), `weft-conformance-${kind}-`));
          dirs.push(tmp);
          return makeStorage({ tmp });
        };
        const tmp = await mkdtemp(join(tmpdir(), `weft-conformance-${kind}-case-`));
        dirs.push(tmp);
        try {
          await fn(make, tmp);
        } finally {
          await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
        }
      });
    };

    /** A storage holding the main flow, built. */
    const built = async (make: () => Promise<Storage>) => {
      const storage = await make();
      const location = storage.addFlow(conformanceFlow);
      await storage.build();
      return { storage, location };
    };

    test("options.skip names only cases of the suite", () => {
      const unknown = Object.keys(skip).filter(
        (name) => !(CONFORMANCE_CASES as readonly string[]).includes(name),
      );
      assert.deepEqual(unknown, [], `known cases: ${CONFORMANCE_CASES.join(" | ")}`);
      for (const [name, reason] of Object.entries(skip)) {
        assert.ok(reason.trim().length > 0, `the skip of "${name}" needs a reason`);
      }
    });

    conformance("type is the kind and name is a non-empty string", async (make) => {
      const storage = await make();
      assert.equal(storage.type, kind);
      assert.equal(typeof storage.name, "string");
      assert.ok(storage.name.length > 0, "name is empty");
      assert.equal(storage.toJSON().type, kind);
      assert.equal(storage.toJSON().schemaVersion, 1);
    });

    conformance("addFlow returns a location that flows and contains reflect", async (make) => {
      const storage = await make();
      assert.equal(storage.contains(conformanceFlow), false);
      assert.equal(storage.contains(conformanceFlow.name), false);
      assert.deepEqual({ ...storage.flows }, {});
      const location = storage.addFlow(conformanceFlow);
      assert.equal(typeof location, "string");
      assert.ok(
        location.endsWith(`#${conformanceFlow.name}`),
        `location ${location} ends with #<flow name>`,
      );
      assert.ok(artifactOf(location).length > 0, `location ${location} names an artifact`);
      assert.equal(storage.flows[conformanceFlow.name], location);
      assert.equal(storage.contains(conformanceFlow), true, "contains(flow)");
      assert.equal(storage.contains(conformanceFlow.name), true, "contains(name)");
      assert.equal(storage.contains(greetFlow), false, "a flow never added");
      assert.equal(storage.contains("no-such-flow"), false, "a name never added");
      assert.deepEqual(storage.toJSON().flows, { [conformanceFlow.name]: location });
    });

    conformance("loading before build() fails with STORAGE_NOT_BUILT", async (make) => {
      const storage = await make();
      const location = storage.addFlow(conformanceFlow);
      const error = await expectCode(
        () => storage.getRunner(location),
        "STORAGE_NOT_BUILT",
        "getRunner before build",
      );
      assert.match(error.message, new RegExp(escapeRegExp(location)));
      if (crossProcess) {
        await expectCode(
          () => storage.getEnvRunner(location),
          "STORAGE_NOT_BUILT",
          "getEnvRunner before build",
        );
      }
      await storage.build();
      await storage.getRunner(location);
    });

    conformance("build() then getRunner(location) runs the flow", async (make) => {
      const { storage, location } = await built(make);
      const runner = await storage.getRunner(location);
      assert.equal(runner.flow.name, conformanceFlow.name);
      const run = await runner.run({ parameters: { x: 1 } });
      assert.equal(run.state.type, "Success", run.state.message);
      assert.deepEqual(run.outputs, { total: 6 });
      const defaults = await runner.run();
      assert.deepEqual(defaults.outputs, { total: 84 });
      // The loaded flow has the registered graph: the same slugs in the same order.
      assert.deepEqual(
        runner.flow.graph.nodes.map((n) => n.slug),
        conformanceFlow.graph.nodes.map((n) => n.slug),
      );
    });

    conformance("two flows of one module are both stored and both load", async (make) => {
      const storage = await make();
      const main = storage.addFlow(conformanceFlow);
      const greet = storage.addFlow(greetFlow);
      assert.notEqual(main, greet);
      assert.deepEqual(
        { ...storage.flows },
        { [conformanceFlow.name]: main, [greetFlow.name]: greet },
      );
      await storage.build();
      const run = await (await storage.getRunner(greet)).run({ parameters: { name: "you" } });
      assert.equal(run.state.type, "Success", run.state.message);
      assert.deepEqual(run.outputs, { greeting: "hello, you" });
      assert.deepEqual((await (await storage.getRunner(main)).run()).outputs, { total: 84 });
    });

    conformance("the same code gets the same location (content addressing)", async (make) => {
      const first = await make();
      const second = await make();
      const a = first.addFlow(conformanceFlow);
      const b = second.addFlow(conformanceFlow);
      assert.equal(a, b, "two storages of the kind, same flow code");
      assert.equal(first.addFlow(conformanceFlow), a, "adding a flow again is idempotent");
      const other = first.addFlow(otherFlow);
      assert.notEqual(other, a, "another flow gets another location");
    });

    conformance(
      "a location escaping the storage fails with STORAGE_LOCATION_ESCAPE",
      async (make) => {
        const { storage } = await built(make);
        const flowName = conformanceFlow.name;
        for (const artifact of [
          "../x.mjs",
          "/etc/passwd",
          "a/../../x.mjs",
          "..\\x.mjs",
          "C:\\Windows\\x.mjs",
        ]) {
          const location = `${artifact}#${flowName}`;
          const error = await expectCode(
            () => storage.getRunner(location),
            "STORAGE_LOCATION_ESCAPE",
            `getRunner(${location})`,
          );
          assert.ok(error.message.includes(JSON.stringify(location)), error.message);
          if (crossProcess) {
            await expectCode(
              () => storage.getEnvRunner(location),
              "STORAGE_LOCATION_ESCAPE",
              `getEnvRunner(${location})`,
            );
          }
        }
      },
    );

    conformance("a malformed location fails with STORAGE_LOCATION_INVALID", async (make) => {
      const { storage, location } = await built(make);
      for (const bad of [artifactOf(location), "", `#${conformanceFlow.name}`, `${location}#`]) {
        await expectCode(
          () => storage.getRunner(bad),
          "STORAGE_LOCATION_INVALID",
          `getRunner(${JSON.stringify(bad)})`,
        );
      }
    });

    conformance(
      "a location naming an absent flow fails with STORAGE_FLOW_MISSING",
      async (make) => {
        const { storage, location } = await built(make);
        const missing = `${artifactOf(location)}#no-such-flow`;
        const error = await expectCode(
          () => storage.getRunner(missing),
          "STORAGE_FLOW_MISSING",
          `getRunner(${missing})`,
        );
        assert.match(error.message, /no-such-flow/);
      },
    );

    conformance("toJSON() round-trips through storageFromJSON", async (make) => {
      const { storage } = await built(make);
      const json = storage.toJSON();
      const text = JSON.stringify(json);
      assert.deepEqual(JSON.parse(text), json, "toJSON() is plain JSON");
      const rebuilt = storageFromJSON(JSON.parse(text));
      assert.equal(rebuilt.type, storage.type);
      assert.equal(rebuilt.name, storage.name);
      assert.deepEqual(rebuilt.toJSON(), json);
      assert.deepEqual(rebuilt.labels, storage.labels);
      assert.deepEqual({ ...rebuilt.flows }, { ...storage.flows });
      assert.equal(rebuilt.contains(conformanceFlow.name), true);
    });

    conformance("a storage rebuilt from JSON loads the flow", async (make, tmp) => {
      const { storage, location } = await built(make);
      const json = JSON.parse(JSON.stringify(storage.toJSON()));
      await withEnv("WEFT_HOME", join(tmp, "home"), async () => {
        const rebuilt = storageFromJSON(json);
        const run = await (await rebuilt.getRunner(location)).run({ parameters: { x: 8 } });
        assert.equal(run.state.type, "Success", run.state.message);
        assert.deepEqual(run.outputs, { total: 20 });
      });
    });

    conformance(
      CROSS_PROCESS_CASE,
      async (make, tmp) => {
        const { storage, location } = await built(make);
        const rebuilt = storageFromJSON(JSON.parse(JSON.stringify(storage.toJSON())));
        const out = join(tmp, "result.json");
        const child = rebuilt.getEnvRunner(location).start({
          env: {
            WEFT_HOME: tmp,
            WEFT_PARAMETERS: JSON.stringify({ x: 3, out }),
            WEFT_FLOW_RUN_ID: "conformance-run",
            NO_COLOR: "1",
          },
        });
        const result = await waitForChild(child);
        assert.equal(result.code, 0, `weft execute failed:\n${result.stderr}`);
        assert.deepEqual(JSON.parse(await readFile(out, "utf8")), { total: 10 });
        assert.match(result.stderr, /conformance-run/);
      },
      crossProcess ? undefined : "this kind cannot be loaded by another process",
    );

    conformance("shareable and getEnvRunner agree with crossProcess", async (make) => {
      const { storage, location } = await built(make);
      if (crossProcess) {
        assert.equal(storage.shareable, true);
        const runner = storage.getEnvRunner(location);
        assert.equal(runner.env.WEFT_FLOW_LOCATION, location);
        assert.deepEqual(JSON.parse(runner.env.WEFT_STORAGE ?? "null"), storage.toJSON());
      } else {
        assert.equal(storage.shareable, false);
        const error = await expectCode(
          () => storage.getEnvRunner(location),
          "STORAGE_NOT_SHAREABLE",
          "getEnvRunner of a kind that cannot cross processes",
        );
        assert.match(error.message, /another process/);
      }
    });

    conformance("labels are an array of strings", async (make) => {
      const storage = await make();
      storage.addFlow(conformanceFlow);
      await storage.build();
      assert.ok(Array.isArray(storage.labels), "labels is an array");
      for (const label of storage.labels) {
        assert.equal(typeof label, "string");
        assert.ok(label.length > 0, "a label is never empty");
      }
      assert.equal(new Set(storage.labels).size, storage.labels.length, "no duplicate label");
      assert.deepEqual(storage.toJSON(), JSON.parse(JSON.stringify(storage.toJSON())));
    });
  });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
