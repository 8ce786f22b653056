// weftflow as its users get it: packed by `npm pack` (the build in dist/, which
// `npm test` makes fresh before this file starts), installed from the tarball
// into projects outside the repository, and used there through node, npx and
// tsc only. One JavaScript project (ES modules, with a CommonJS project inside
// it sharing its install) and one TypeScript project (typescript installed beside
// weftflow, which brings @types/node for its declarations), each with its own WEFT_HOME.
//
// The installs take every package from npm's cache but still need the npm
// registry: without it this file is skipped, saying why, unless
// WEFT_TEST_REQUIRE_REGISTRY=1 (CI), which makes that a failure.
import assert from "node:assert/strict";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  type CommandResult,
  installProject,
  output,
  type Packed,
  packageFixtures,
  packageManifest,
  packWeft,
  registryUnreachable,
  run,
  runOk,
  start,
  stopAll,
} from "./consumer-projects.ts";

const registryRequired = process.env.WEFT_TEST_REQUIRE_REGISTRY === "1";
// Checked here rather than in before(): only a suite declared as skipped prints its reason once.
const unreachable = await registryUnreachable(tmpdir());

/**
 * npx as a user types it, with `--no` so that a missing local bin is an error
 * rather than a download (the registry's package named weft is another
 * project), and `--` so that flags such as --version reach weft, not npx.
 */
const npx = (...args: string[]) => ["--no", "--", ...args];

/** `weft run --json` (a local run). */
interface JsonRun {
  readonly flow: string;
  readonly parameters: Record<string, unknown>;
  readonly state: { readonly type: string };
  readonly tasks: readonly { readonly slug: string; readonly type: string; children?: number }[];
}

/** `weft run --remote --wait --json`: the server's record of the run. */
interface RemoteRun {
  readonly flowName: string;
  readonly agentId?: string;
  readonly parameters: Record<string, unknown>;
  readonly state: { readonly type: string };
  readonly taskRuns: readonly {
    readonly slug: string;
    readonly mapIndex?: number | null;
    readonly state: { readonly type: string };
  }[];
}

/** The TypeScript fixture's tasks and their final states (square-1 is a map's parent). */
const expectedStates = {
  x: "Success",
  "add-1": "Success",
  "square-1": "Mapped",
  "describe-1": "Success",
};

function parse<T>(result: CommandResult): T {
  try {
    return JSON.parse(result.stdout) as T;
  } catch (error) {
    assert.fail(`stdout is not one JSON document (${(error as Error).message})${output(result)}`);
  }
}

/** The one line telling a CommonJS user how to load weftflow, checked for what it must say. */
function assertLoadAdvice(result: CommandResult): void {
  assert.notEqual(result.code, 0, `require() could not load weftflow: a failure${output(result)}`);
  const lines = result.stderr.split("\n").filter((l) => l.includes("weftflow is an ES module"));
  assert.equal(lines.length, 1, `one line of advice${output(result)}`);
  assert.match(lines[0]!, /await import\("weftflow"\)/);
  assert.match(lines[0]!, /ES modules \("type": "module" in package\.json, or \.mjs files\)/);
  assert.doesNotMatch(result.stderr, /^\s+at /m, `no stack trace${output(result)}`);
}

describe("the weftflow package, installed from npm pack's tarball", {
  skip: unreachable !== undefined && !registryRequired ? unreachable : false,
  // The groups below run at once, each in order: tsc keeps one core busy for most of the
  // file's time, and the other groups' commands need little more than the other core.
  concurrency: true,
}, () => {
  let tmp = "";
  let packed: Packed;
  let js = "";
  let ts = "";
  const home = (project: string) => ({ WEFT_HOME: join(tmp, `${project}-home`) });

  before(async () => {
    if (unreachable !== undefined)
      throw new Error(`${unreachable}; WEFT_TEST_REQUIRE_REGISTRY=1 requires it`);
    tmp = mkdtempSync(join(tmpdir(), "weft-package-"));
    packed = await packWeft(tmp);
    js = join(tmp, "javascript");
    ts = join(tmp, "typescript");
    // Both at once: each is mostly npm unpacking from its cache.
    await Promise.all([
      installProject("javascript", js, packed.tarball),
      installProject("typescript", ts, packed.tarball, [
        `typescript@${packageManifest.devDependencies.typescript}`,
      ]),
    ]);
  });

  after(async () => {
    await stopAll();
    if (tmp !== "") rmSync(tmp, { recursive: true, force: true });
  });

  describe("the tarball", { concurrency: 1 }, () => {
    test("holds bin/ and dist/ with the declarations; no src/, test/ or database", () => {
      const paths = packed.files.map((f) => f.path);
      const npmOwn = /^(package\.json|README\.md|LICEN[CS]E(\.\w+)?|CHANGELOG\.md)$/i;
      assert.deepEqual(
        paths.filter((p) => !p.startsWith("bin/") && !p.startsWith("dist/") && !npmOwn.test(p)),
        [],
        "only bin/, dist/ and the files npm always packs",
      );
      assert.deepEqual(
        paths.filter((p) => /^(src|test)\//.test(p)),
        [],
      );
      assert.deepEqual(
        paths.filter((p) => /\.(db|db-wal|db-shm|sqlite3?)$/.test(p) || p.includes(".weft/")),
        [],
      );
      for (const file of [
        "dist/index.js",
        "dist/cli.js",
        "dist/worker-threads-worker.js",
        "dist/require.cjs",
        "dist/types/index.d.ts",
        "dist/ui/index.html",
      ]) {
        assert.ok(paths.includes(file), `${file} is in the tarball`);
      }
      // The web UI's built assets ship too (weft up and weft server start serve them at /).
      assert.ok(
        paths.some((p) => /^dist\/ui\/assets\/[^/]+\.js$/.test(p)),
        `the web UI's JavaScript is in the tarball: ${paths.filter((p) => p.startsWith("dist/ui/")).join(", ")}`,
      );
      assert.ok(
        paths.some((p) => /^dist\/ui\/assets\/[^/]+\.css$/.test(p)),
        "the web UI's styles are in the tarball",
      );
    });

    test("holds every file package.json names (exports, types, bin)", () => {
      const files = new Map(packed.files.map((f) => [f.path, f]));
      const named: [string, string][] = [];
      const walk = (where: string, target: unknown) => {
        if (typeof target === "string") named.push([where, target]);
        else if (target !== null && typeof target === "object")
          for (const [condition, inner] of Object.entries(target)) {
            // The repository's own condition (its tests and tsconfig load src/ with it); no
            // consumer sets it, and src/ is not published.
            if (condition === "weftflow-source") continue;
            walk(`${where}.${condition}`, inner);
          }
      };
      walk("exports", packageManifest.exports);
      if (packageManifest.types !== undefined) named.push(["types", packageManifest.types]);
      for (const [name, target] of Object.entries(packageManifest.bin))
        named.push([`bin.${name}`, target]);
      assert.ok(named.length >= 6, `package.json names its files: ${JSON.stringify(named)}`);
      for (const [where, target] of named) {
        assert.ok(files.has(target.replace(/^\.\//, "")), `${where} (${target}) is in the tarball`);
      }
      for (const [name, target] of Object.entries(packageManifest.bin)) {
        const mode = files.get(target.replace(/^\.\//, ""))!.mode;
        assert.ok((mode & 0o111) !== 0, `bin.${name} (${target}) is executable`);
      }
    });
  });

  describe("in a JavaScript project (ES modules, and CommonJS beside it)", {
    concurrency: 1,
  }, () => {
    test("node flow.mjs defines and runs a flow: no loader, no TypeScript installed", async () => {
      assert.equal(existsSync(join(js, "node_modules", "typescript")), false, "no TypeScript");
      const result = await runOk(process.execPath, ["flow.mjs"], { cwd: js, env: home("js") });
      assert.deepEqual(parse(result), {
        state: "Success",
        outputs: { y: 7, squares: [1, 4, 9], where: "consumer-javascript/where-1" },
      });
      assert.equal(result.stderr, "", "no warning");
    });

    test("npx weftflow --version (the second bin) prints the package's version", async () => {
      const result = await runOk("npx", npx("weftflow", "--version"), { cwd: js, env: home("js") });
      assert.equal(result.stdout.trim(), packageManifest.version);
    });

    test("a CommonJS project's require('weftflow') loads it (this Node.js) or says how, in one line", async () => {
      const cjs = join(js, "commonjs");
      const result = await run(process.execPath, ["flow.js"], { cwd: cjs, env: home("js") });
      // Node.js 20.19+ and 22.12+ require() ES modules; earlier ones (engines allows 20.12) do not.
      if ((process.features as { require_module?: boolean }).require_module === true) {
        assert.equal(result.code, 0, output(result));
        assert.deepEqual(parse(result), { state: "Success", outputs: 7 });
      } else {
        assertLoadAdvice(result);
      }
    });

    test("where require() cannot load ES modules, that line says: await import() or ES modules", async (t) => {
      const flag = "--no-experimental-require-module";
      if (!process.allowedNodeEnvironmentFlags.has(flag)) {
        t.skip(`this Node.js has no ${flag}: the test above saw the advice`);
        return;
      }
      const result = await run(process.execPath, [flag, "flow.js"], {
        cwd: join(js, "commonjs"),
        env: home("js"),
      });
      assertLoadAdvice(result);
      assert.equal(result.stdout, "");
    });
  });

  // What `npx weftflow run flow.ts` does where weftflow is not installed: npx installs it
  // in its cache and runs the bin there, in the user's directory. Here the JavaScript
  // project's bin (no typescript package beside it) runs the TypeScript fixture's flow,
  // copied to directories that have no node_modules.
  describe("the bin, on a flow file where weftflow is not installed", { concurrency: 1 }, () => {
    const runElsewhere = async (name: string, packageJson: object | undefined) => {
      const dir = join(tmp, name);
      mkdirSync(dir);
      copyFileSync(join(packageFixtures, "typescript", "flow.ts"), join(dir, "flow.ts"));
      if (packageJson !== undefined)
        writeFileSync(join(dir, "package.json"), JSON.stringify(packageJson));
      const bin = join(js, "node_modules", ".bin", "weftflow");
      const result = await run(bin, ["run", "flow.ts", "--param", "x=5", "--json"], {
        cwd: dir,
        env: home("js"),
      });
      assert.equal(result.code, 0, output(result));
      const doc = parse<JsonRun>(result);
      assert.equal(doc.state.type, "Success");
      assert.deepEqual(Object.fromEntries(doc.tasks.map((t) => [t.slug, t.type])), expectedStates);
    };

    test("in an ES module package", () => runElsewhere("elsewhere-esm", { type: "module" }));

    // Without a package.json the file is CommonJS (to Node and to tsx): its require("weftflow")
    // is Node's own resolution, which finds none there. Flow files are ES modules; the
    // refusal says how to make it one.
    test("in a directory without package.json: refused, with the fix", async () => {
      const dir = join(tmp, "elsewhere-plain");
      mkdirSync(dir);
      copyFileSync(join(packageFixtures, "typescript", "flow.ts"), join(dir, "flow.ts"));
      const bin = join(js, "node_modules", ".bin", "weftflow");
      const result = await run(bin, ["run", "flow.ts"], { cwd: dir, env: home("js") });
      assert.equal(result.code, 2, output(result));
      assert.equal(result.stdout, "");
      assert.match(
        result.stderr,
        /^error: importing flow\.ts failed: Cannot find module 'weftflow' \(FLOW_MODULE_IMPORT_FAILED\)$/m,
      );
      assert.match(result.stderr, /^hint: .*ES module.*\.mts.*"type": "module"/m);
    });
  });

  describe("tsc in a TypeScript project", { concurrency: 1 }, () => {
    test("tsc --noEmit passes (strict, NodeNext, libraries checked), never reading weft's source", async () => {
      const config = JSON.parse(readFileSync(join(ts, "tsconfig.json"), "utf8")) as {
        compilerOptions: Record<string, unknown>;
      };
      assert.equal(config.compilerOptions.skipLibCheck, undefined, "skipLibCheck is off");
      const result = await runOk("npx", npx("tsc", "--noEmit", "--listFiles"), {
        cwd: ts,
        timeoutMs: 300_000,
      });
      const files = result.stdout.split("\n").filter((line) => line !== "");
      const weft = files.filter((f) => f.includes("/node_modules/weftflow/"));
      assert.ok(weft.length > 0, `tsc read weftflow's declarations:\n${result.stdout}`);
      assert.deepEqual(
        weft.filter((f) => !/\/node_modules\/weftflow\/dist\/types\/.+\.d\.ts$/.test(f)),
        [],
        "tsc reads only weftflow's declarations",
      );
      assert.deepEqual(
        files.filter((f) => !f.includes("/node_modules/")),
        [join(ts, "flow.ts")],
        "the project's own files",
      );
    });

    test('tsc reports add(x, "a") where the task takes a number', async () => {
      const source = readFileSync(join(packageFixtures, "typescript", "type-error.ts"), "utf8");
      const lines = source.split("\n").filter((line) => !line.includes("@ts-expect-error"));
      writeFileSync(join(ts, "type-error.ts"), lines.join("\n"));
      const line = lines.findIndex((l) => l.includes('add(x, "a")')) + 1;
      const column = lines[line - 1]!.indexOf('"a"') + 1;
      const result = await run("npx", npx("tsc", "--noEmit", "-p", "tsconfig.type-error.json"), {
        cwd: ts,
        timeoutMs: 300_000,
      });
      assert.equal(result.code, 2, output(result));
      const errors = result.stdout.split("\n").filter((l) => l.includes(": error TS"));
      assert.equal(errors.length, 1, output(result));
      assert.ok(
        errors[0]!.startsWith(`type-error.ts(${line},${column}): error TS2345: `),
        `the error is at "a" (line ${line}, column ${column}): ${errors[0]}`,
      );
      assert.match(errors[0]!, /Argument of type 'string' is not assignable to .*number/);
    });
  });

  describe("npx weft in a TypeScript project", { concurrency: 1 }, () => {
    test("npx weft run flow.ts runs it in process, on worker threads and in a subprocess", async () => {
      const variants = [
        [],
        ["--executor", "worker-threads", "--max-workers", "1"],
        ["--environment", "subprocess"],
      ];
      const results = await Promise.all(
        variants.map((extra) =>
          run("npx", npx("weft", "run", "flow.ts", "--param", "x=5", "--json", ...extra), {
            cwd: ts,
            env: home("ts"),
            timeoutMs: 180_000,
          }),
        ),
      );
      for (const [i, result] of results.entries()) {
        const what = `weft run flow.ts ${variants[i]!.join(" ")}`;
        assert.equal(result.code, 0, `${what}${output(result)}`);
        const doc = parse<JsonRun>(result);
        assert.equal(doc.flow, "consumer-typescript", what);
        assert.equal(doc.state.type, "Success", what);
        assert.deepEqual(doc.parameters, { x: 5 }, what);
        assert.deepEqual(
          Object.fromEntries(doc.tasks.map((t) => [t.slug, t.type])),
          expectedStates,
          what,
        );
        assert.equal(doc.tasks.find((t) => t.slug === "square-1")?.children, 3, what);
      }
    });

    test("weft up started there runs the flow npx weft register stored: run --remote --wait", async () => {
      const up = start("npx", npx("weft", "up", "--port", "0"), {
        cwd: ts,
        env: home("ts"),
        timeoutMs: 600_000,
      });
      let stopped: CommandResult;
      try {
        const [, url] = await up.waitFor(/^weft is up: (\S+)$/m, {
          stream: "stdout",
          timeoutMs: 120_000,
        });
        // The installed package serves its web UI at / (and its history routes), as HTML.
        for (const path of ["/", "/runs"]) {
          const page = await fetch(`${url}${path}`);
          assert.equal(page.status, 200, `GET ${path} of weft up`);
          assert.match(page.headers.get("content-type") ?? "", /^text\/html/, `GET ${path}`);
          assert.match(await page.text(), /<script[^>]+src="\/assets\/[^"]+\.js"/, `GET ${path}`);
        }
        const weft = (...args: string[]) =>
          runOk("npx", npx("weft", ...args, "--api", url!, "--json"), {
            cwd: ts,
            env: home("ts"),
            timeoutMs: 180_000,
          });
        const registered = parse<{ flows: { name: string; version: number }[] }>(
          await weft("register", "flow.ts"),
        );
        assert.deepEqual(
          registered.flows.map((f) => [f.name, f.version]),
          [["consumer-typescript", 1]],
        );
        const remote = parse<RemoteRun>(
          await weft("run", "--remote", "consumer-typescript", "--wait", "--param", "x=5"),
        );
        assert.equal(remote.flowName, "consumer-typescript");
        assert.equal(remote.state.type, "Success");
        assert.deepEqual(remote.parameters, { x: 5 });
        assert.ok(remote.agentId, "weft up's agent ran it");
        assert.deepEqual(
          Object.fromEntries(
            remote.taskRuns.filter((r) => r.mapIndex == null).map((r) => [r.slug, r.state.type]),
          ),
          expectedStates,
        );
        assert.deepEqual(
          remote.taskRuns.filter((r) => r.mapIndex != null).map((r) => r.state.type),
          ["Success", "Success", "Success"],
          "the map's children",
        );
      } finally {
        stopped = await up.stop(15_000, "SIGINT");
      }
      // Ctrl-C: weft up stops its agent and server, then ends by SIGINT (a shell says 130),
      // and so does npx.
      assert.ok(
        stopped.signal === "SIGINT" || stopped.code === 130,
        `weft up stops on Ctrl-C${output(stopped)}`,
      );
      assert.match(stopped.stderr, /weft stopped/, output(stopped));
    });
  });
});
