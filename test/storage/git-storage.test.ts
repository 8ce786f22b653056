// Git storage against real repositories made with `git init` in a temporary
// directory: tags, later commits, a symlink out of the repository, a deleted
// repository, unreachable remotes, and `weft execute` in a child process.
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createGitStorage, isWeftError, storageFromJSON } from "weftflow";
import { createStorage } from "../../src/storage/registry.ts";
import { gitEtl as gitEtlV1 } from "../fixtures/storage/git-flow.ts";
import { gitEtl as gitEtlReshaped } from "../fixtures/storage/git-flow-reshaped.ts";
import { gitEtl as gitEtlV2 } from "../fixtures/storage/git-flow-v2.ts";
import { CONFORMANCE_MODULE, repoRoot, runStorageConformance } from "./storage.case.ts";

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), "../fixtures/storage");
const fixture = (name: string) => readFileSync(join(FIXTURES, name), "utf8");
const FLOW_PATH = "flows/etl.ts";

const GIT_ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: "weft test",
  GIT_AUTHOR_EMAIL: "test@weft.invalid",
  GIT_COMMITTER_NAME: "weft test",
  GIT_COMMITTER_EMAIL: "test@weft.invalid",
  GIT_CONFIG_NOSYSTEM: "1",
};

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, env: GIT_ENV, encoding: "utf8" }).trim();
}

/** Writes `files` into the repository and commits them; returns the commit id. */
function commit(repo: string, message: string, files: Record<string, string>): string {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(repo, path)), { recursive: true });
    writeFileSync(join(repo, path), text);
  }
  git(repo, "add", "-A");
  git(repo, "commit", "-q", "-m", message);
  return git(repo, "rev-parse", "HEAD");
}

/** A fresh repository whose first commit holds flows/etl.ts (version 1), tagged v1. */
function makeRepo(root: string): { repo: string; c1: string } {
  const repo = join(root, `repo-${randomUUID()}`);
  mkdirSync(repo, { recursive: true });
  git(repo, "init", "-q", "-b", "main");
  const c1 = commit(repo, "flow v1", { [FLOW_PATH]: fixture("git-flow.ts") });
  git(repo, "tag", "-a", "v1", "-m", "first release");
  return { repo, c1 };
}

async function rejectsWith(promise: Promise<unknown>, code: string, ...parts: string[]) {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isWeftError(error), `expected a WeftError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const part of parts)
      assert.ok(error.message.includes(part), `"${part}" in: ${error.message}`);
    return true;
  });
}

/** Waits for a child to exit (killing it by pid after `ms`), with what it printed. */
function finish(child: ChildProcess, ms = 60_000) {
  let out = "";
  child.stdout?.on("data", (d: Buffer) => (out += d));
  child.stderr?.on("data", (d: Buffer) => (out += d));
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

async function runOut(storage: ReturnType<typeof createGitStorage>, location: string) {
  const runner = await storage.getRunner(location);
  const run = await runner.run({ parameters: { who: "ada" } });
  assert.equal(run.state.type, "Success", run.state.message);
  return run.result<string>("shout-1");
}

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), "weft-git-"));
  // Whatever falls back to $WEFT_HOME (a storage rebuilt from JSON) stays in here, never in ~/.weft.
  process.env.WEFT_HOME = join(root, "home");
});
after(() => rmSync(root, { recursive: true, force: true }));

describe("git storage", () => {
  test("build records the commit HEAD names and getRunner runs the flow at it", async () => {
    const { repo, c1 } = makeRepo(root);
    const cacheDir = join(root, `cache-${randomUUID()}`);
    const storage = createGitStorage({ repo, path: FLOW_PATH, cacheDir });
    const location = storage.addFlow(gitEtlV1);
    assert.equal(location, `${FLOW_PATH}#git-etl`);
    await rejectsWith(storage.getRunner(location), "STORAGE_NOT_BUILT");
    await storage.build();
    assert.equal(storage.toJSON().commit, c1);
    assert.equal(await runOut(storage, location), "V1 HELLO ADA FROM GIT-ETL");
    assert.deepEqual(storage.labels, []);
    assert.equal(storage.remote, false, "a local path is not reachable from other machines");
    assert.equal(storage.shareable, true);
  });

  test("refs resolve like git: annotated tags to their commit, branches, full ids", async () => {
    const { repo, c1 } = makeRepo(root);
    const c2 = commit(repo, "flow v2", { [FLOW_PATH]: fixture("git-flow-v2.ts") });
    const cacheDir = join(root, `cache-${randomUUID()}`);
    const built = async (ref: string) => {
      const storage = createGitStorage({ repo, ref, path: FLOW_PATH, cacheDir });
      storage.addFlow(ref === "v1" || ref === c1 ? gitEtlV1 : gitEtlV2);
      await storage.build();
      return storage.toJSON();
    };
    assert.equal((await built("v1")).commit, c1);
    assert.equal((await built("refs/tags/v1")).commit, c1);
    assert.equal((await built("main")).commit, c2);
    assert.equal((await built("HEAD")).commit, c2);
    assert.equal((await built(c1)).commit, c1);
    await rejectsWith(built("no-such-branch"), "STORAGE_FLOW_MISSING", "no-such-branch");
  });

  test("the location is stable; the recorded commit is the same for the same code and moves with it", async () => {
    const { repo, c1 } = makeRepo(root);
    const cacheDir = join(root, `cache-${randomUUID()}`);
    const build = async () => {
      const storage = createGitStorage({ repo, path: FLOW_PATH, cacheDir });
      const location = storage.addFlow(gitEtlV1);
      await storage.build();
      return { location, json: storage.toJSON() };
    };
    const first = await build();
    const again = await build();
    assert.deepEqual(again, first, "building the same commit twice gives the same JSON");
    const c2 = commit(repo, "flow v2", { [FLOW_PATH]: fixture("git-flow-v2.ts") });
    const later = await build();
    assert.equal(later.location, first.location);
    assert.equal(first.json.commit, c1);
    assert.equal(later.json.commit, c2);
  });

  test("a storage built before a later commit still runs the old code", async () => {
    const { repo } = makeRepo(root);
    const cacheDir = join(root, `cache-${randomUUID()}`);
    const old = createGitStorage({ repo, path: FLOW_PATH, cacheDir });
    const location = old.addFlow(gitEtlV1);
    await old.build();
    const oldJson = old.toJSON();

    commit(repo, "flow v2", { [FLOW_PATH]: fixture("git-flow-v2.ts") });
    const current = createGitStorage({ repo, path: FLOW_PATH, cacheDir });
    current.addFlow(gitEtlV2);
    await current.build();

    // Loaded from JSON (as an agent would), in a fresh cache: checks out the recorded commit.
    const reloaded = createGitStorage({
      repo,
      path: FLOW_PATH,
      commit: oldJson.commit as string,
      cacheDir: join(root, `cache-${randomUUID()}`),
    });
    assert.equal(await runOut(reloaded, location), "V1 HELLO ADA FROM GIT-ETL");
    assert.equal(await runOut(current, location), "V2 GOODBYE ADA FROM GIT-ETL");
    // Without a recorded commit the ref is followed at load time.
    const following = createGitStorage({
      repo,
      path: FLOW_PATH,
      cacheDir,
      flows: { "git-etl": location },
    });
    assert.equal(await runOut(following, location), "V2 GOODBYE ADA FROM GIT-ETL");
  });

  test("checkouts are cached per commit: once loaded, the repository is not needed again", async () => {
    const { repo, c1 } = makeRepo(root);
    const home = join(root, `home-${randomUUID()}`);
    const cacheDir = join(home, "cache");
    const storage = createGitStorage({ repo, path: FLOW_PATH, cacheDir });
    const location = storage.addFlow(gitEtlV1);
    await storage.build();
    const json = storage.toJSON();
    const checkouts = readdirSync(join(cacheDir, "git"), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .flatMap((e) => readdirSync(join(cacheDir, "git", e.name)));
    assert.deepEqual(checkouts, [c1], "one directory per commit, no temporary left behind");

    rmSync(repo, { recursive: true, force: true });
    // Another storage object, same cache: no git call is needed (the repository is gone).
    const again = createGitStorage({ repo, path: FLOW_PATH, cacheDir, commit: c1, flows: {} });
    assert.equal(await runOut(again, location), "V1 HELLO ADA FROM GIT-ETL");
    // A fresh process with the same WEFT_HOME loads from the cache too.
    const { code, out } = await finish(
      storageFromJSON(json)
        .getEnvRunner(location)
        .start({ env: { WEFT_HOME: home } }),
    );
    assert.equal(code, 0, out);
    // And without the cache the repository really is missing.
    const cold = createGitStorage({
      repo,
      path: FLOW_PATH,
      cacheDir: join(root, "empty"),
      commit: c1,
    });
    await rejectsWith(cold.getRunner(location), "STORAGE_UNREACHABLE", repo);
  });

  test("getEnvRunner runs `weft execute` in a child that checks out the commit itself", async () => {
    const { repo } = makeRepo(root);
    const storage = createGitStorage({
      repo,
      path: FLOW_PATH,
      cacheDir: join(root, `c-${randomUUID()}`),
    });
    const location = storage.addFlow(gitEtlV1);
    await storage.build();
    const runner = storageFromJSON(storage.toJSON()).getEnvRunner(location);
    assert.equal(runner.env.WEFT_FLOW_LOCATION, location);
    const home = join(root, `home-${randomUUID()}`);
    const { code, out } = await finish(
      runner.start({ env: { WEFT_HOME: home, WEFT_PARAMETERS: '{"who":"child"}' } }),
    );
    assert.equal(code, 0, out);
    assert.ok(
      existsSync(join(home, "cache", "git")),
      "the child cached its checkout under WEFT_HOME",
    );
  });

  test("two loads of one commit at once both succeed and leave one complete checkout", async () => {
    const { repo, c1 } = makeRepo(root);
    const cacheDir = join(root, `cache-${randomUUID()}`);
    const make = () => createGitStorage({ repo, path: FLOW_PATH, cacheDir, commit: c1 });
    const location = `${FLOW_PATH}#git-etl`;
    const outs = await Promise.all([make(), make(), make()].map((s) => runOut(s, location)));
    assert.deepEqual(outs, Array(3).fill("V1 HELLO ADA FROM GIT-ETL"));
    const [repoDir] = readdirSync(join(cacheDir, "git")).filter((n) => /^[0-9a-f]{16}$/.test(n));
    assert.deepEqual(readdirSync(join(cacheDir, "git", repoDir!)), [c1]);
  });

  test("an unreachable repository fails with STORAGE_UNREACHABLE in bounded time", async () => {
    const cacheDir = join(root, `cache-${randomUUID()}`);
    // Nothing listens on this port any more: refused at once.
    const closed = await freePort();
    const refused = `http://127.0.0.1:${closed}/flows.git`;
    await rejectsWith(
      createGitStorage({ repo: refused, path: FLOW_PATH, cacheDir }).build(),
      "STORAGE_UNREACHABLE",
      refused,
    );
    // A server that accepts and never answers: the timeout kills git.
    const silent = await blackHole();
    try {
      const repo = `http://127.0.0.1:${silent.port}/flows.git`;
      const started = Date.now();
      await rejectsWith(
        createGitStorage({ repo, path: FLOW_PATH, cacheDir, timeoutMs: 1_000 }).build(),
        "STORAGE_UNREACHABLE",
        repo,
      );
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    } finally {
      await silent.close();
    }
    const missing = join(root, "no-such-repo");
    await rejectsWith(
      createGitStorage({ repo: missing, path: FLOW_PATH, cacheDir }).build(),
      "STORAGE_UNREACHABLE",
      missing,
    );
  });

  test("a symlink in the repository that points outside it is refused", async () => {
    const { repo } = makeRepo(root);
    const outside = join(root, `outside-${randomUUID()}.ts`);
    writeFileSync(outside, fixture("git-flow.ts"));
    mkdirSync(join(repo, "flows"), { recursive: true });
    symlinkSync(outside, join(repo, "flows", "evil.ts"));
    symlinkSync(join(root, "nowhere.ts"), join(repo, "flows", "dangling.ts"));
    const c2 = commit(repo, "links out", {});
    const cacheDir = join(root, `cache-${randomUUID()}`);
    const evil = createGitStorage({ repo, path: "flows/evil.ts", cacheDir });
    evil.addFlow(gitEtlV1);
    await rejectsWith(evil.build(), "STORAGE_LOCATION_ESCAPE", "flows/evil.ts");
    // Loading at a recorded commit is checked the same way.
    const recorded = createGitStorage({ repo, path: "flows/evil.ts", cacheDir, commit: c2 });
    await rejectsWith(recorded.getRunner("flows/evil.ts#git-etl"), "STORAGE_LOCATION_ESCAPE");
    const dangling = createGitStorage({ repo, path: "flows/dangling.ts", cacheDir, commit: c2 });
    await rejectsWith(dangling.getRunner("flows/dangling.ts#git-etl"), "STORAGE_LOCATION_ESCAPE");
  });

  test("paths and locations that leave the repository are refused", async () => {
    const { repo } = makeRepo(root);
    for (const path of ["../etl.ts", "/etc/passwd", "flows/../../etl.ts"]) {
      assert.throws(
        () => createGitStorage({ repo, path }),
        (e: unknown) => isWeftError(e) && e.code === "STORAGE_LOCATION_ESCAPE",
        path,
      );
    }
    const storage = createGitStorage({ repo, path: "./flows//etl.ts", cacheDir: join(root, "c") });
    assert.equal(storage.addFlow(gitEtlV1), `${FLOW_PATH}#git-etl`, "the path is normalized");
    await rejectsWith(storage.getRunner("../flows/etl.ts#git-etl"), "STORAGE_LOCATION_ESCAPE");
    await rejectsWith(storage.getRunner("other.ts#git-etl"), "STORAGE_LOCATION_INVALID");
  });

  test("a missing file or flow is named, with the flows the file does export", async () => {
    const { repo, c1 } = makeRepo(root);
    const cacheDir = join(root, `cache-${randomUUID()}`);
    const nofile = createGitStorage({ repo, path: "flows/none.ts", cacheDir });
    nofile.addFlow(gitEtlV1);
    await rejectsWith(nofile.build(), "STORAGE_FLOW_MISSING", "flows/none.ts");
    const storage = createGitStorage({ repo, path: FLOW_PATH, cacheDir, commit: c1 });
    await assert.rejects(storage.getRunner(`${FLOW_PATH}#nope`), (e: unknown) => {
      assert.ok(isWeftError(e) && e.code === "STORAGE_FLOW_MISSING");
      assert.match(e.message, /flows\/etl\.ts .*"nope"/);
      assert.match(e.hint ?? "", /git-etl/);
      return true;
    });
    const missingCommit = createGitStorage({
      repo,
      path: FLOW_PATH,
      cacheDir,
      commit: "1".repeat(40),
    });
    await rejectsWith(
      missingCommit.getRunner(`${FLOW_PATH}#git-etl`),
      "STORAGE_FLOW_MISSING",
      "1111111111",
    );
  });

  test("a flow file loaded as CommonJS (second copy of weft) is refused with the fix", async () => {
    const { repo } = makeRepo(root);
    const cjs = commit(repo, "a package.json without type", {
      "package.json": '{ "name": "f" }\n',
    });
    const esm = commit(repo, "type module", {
      "package.json": '{ "name": "f", "type": "module" }\n',
    });
    const cacheDir = join(root, `cache-${randomUUID()}`);
    const location = `${FLOW_PATH}#git-etl`;
    const at = (commitId: string) =>
      createGitStorage({ repo, path: FLOW_PATH, cacheDir, commit: commitId });
    await assert.rejects(at(cjs).getRunner(location), (e: unknown) => {
      assert.ok(isWeftError(e) && e.code === "FLOW_MODULE_IMPORT_FAILED", String(e));
      assert.match(e.message, /CommonJS/);
      assert.match(e.hint ?? "", /"type": "module"/);
      return true;
    });
    assert.equal(await runOut(at(esm), location), "V1 HELLO ADA FROM GIT-ETL");
  });

  test("build refuses a flow whose graph differs from the committed code", async () => {
    const { repo } = makeRepo(root);
    const storage = createGitStorage({
      repo,
      path: FLOW_PATH,
      cacheDir: join(root, `c-${randomUUID()}`),
    });
    storage.addFlow(gitEtlReshaped);
    await rejectsWith(storage.build(), "STORAGE_BUILD_FAILED", "whisper-1");
  });

  test("toJSON → storageFromJSON round-trips; URLs with credentials are refused", async () => {
    const { repo } = makeRepo(root);
    const storage = createGitStorage({
      repo,
      ref: "v1",
      path: FLOW_PATH,
      name: "team flows",
      timeoutMs: 5_000,
      cacheDir: join(root, `c-${randomUUID()}`),
    });
    storage.addFlow(gitEtlV1);
    await storage.build();
    const json = storage.toJSON();
    assert.equal(json.type, "git");
    assert.equal(json.schemaVersion, 1);
    assert.equal(json.ref, "v1");
    const back = storageFromJSON(JSON.parse(JSON.stringify(json)));
    assert.deepEqual(back.toJSON(), json);
    assert.equal(back.name, "team flows");
    assert.equal(back.contains("git-etl"), true);

    const remote = createGitStorage({
      repo: "https://example.invalid/acme/flows.git",
      path: FLOW_PATH,
    });
    assert.equal(remote.remote, true);
    assert.equal(
      createGitStorage({ repo: "git@example.invalid:acme/flows.git", path: "f.ts" }).remote,
      true,
    );
    assert.equal(
      createGitStorage({ repo: "relative/repo", path: "f.ts" }).toJSON().repo,
      join(process.cwd(), "relative/repo"),
    );
    for (const bad of [
      "https://bob:hunter2@example.invalid/x.git",
      "https://ghp_abcdef@example.invalid/x.git",
    ]) {
      assert.throws(
        () => createGitStorage({ repo: bad, path: FLOW_PATH }),
        (e: unknown) =>
          isWeftError(e) && e.code === "CREDENTIAL_IN_CONFIG" && !e.message.includes("hunter2"),
      );
    }
    assert.throws(
      () => storageFromJSON({ ...json, commit: "main" }),
      (e: unknown) => isWeftError(e) && e.code === "INVALID_SERIALIZED" && /commit/.test(e.message),
    );
    assert.throws(
      () => storageFromJSON({ ...json, branch: "main" }),
      (e: unknown) => isWeftError(e) && e.code === "INVALID_SERIALIZED",
    );
  });

  test("createStorage makes git storage from command-line options", () => {
    const storage = createStorage("git", {
      repo: "https://example.invalid/f.git",
      ref: "main",
      path: "etl.ts",
    });
    assert.equal(storage.type, "git");
    assert.equal(storage.toJSON().ref, "main");
    assert.throws(
      () => createStorage("git", { repo: "https://example.invalid/f.git" }),
      (e: unknown) => isWeftError(e) && e.code === "USAGE" && /path/.test(e.message),
    );
    assert.throws(
      () => createStorage("git", { repo: "r", path: "p", url: "http://x" }),
      (e: unknown) => isWeftError(e) && e.code === "USAGE",
    );
  });
});

// The suite every kind passes: each storage gets a repository of its own whose
// one commit holds the suite's fixture module.
runStorageConformance("git", ({ tmp }) => {
  const repo = join(tmp, "repo");
  mkdirSync(repo);
  git(repo, "init", "-q", "-b", "main");
  commit(repo, "conformance flows", {
    "flows/conformance-flows.ts": readFileSync(join(repoRoot, CONFORMANCE_MODULE), "utf8"),
  });
  return createGitStorage({
    repo,
    path: "flows/conformance-flows.ts",
    cacheDir: join(tmp, "cache"),
  });
});

/** A port nothing listens on (taken from the OS, then released). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A TCP server that accepts connections and never says a word. */
async function blackHole(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
