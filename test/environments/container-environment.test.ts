// The container environment against a real engine (Podman's Docker API service in CI): runs in
// a container of weft's runtime image (built from this checkout's dist/), fetching their bundle from an http artifact server on
// loopback (network "host"); events and logs come back live over the container's stdout and
// stderr; cancel, timeout, out of memory, a kill from outside, reaping; bad input refused in
// one line. Every container a test starts carries its run id, and none may be left.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { ContainerInspectInfo } from "dockerode";
import { ContainerEngine, OWNER_LABEL, RUN_LABEL } from "../../src/containers/engine.ts";
import type { Flow } from "../../src/core/flow.ts";
import type { TaskGate } from "../../src/core/task-gate.ts";
import {
  type ContainerEnvironmentOptions,
  containerEnvironmentKind,
  createContainerEnvironment,
} from "../../src/environments/container/container-environment.ts";
import type { EnvironmentHost, ExecuteContext } from "../../src/environments/environment.ts";
import { environmentFromJSON } from "../../src/environments/registry.ts";
import { createHttpStorage } from "../../src/storage/http-storage.ts";
import { createLocalStorage } from "../../src/storage/local-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";
import {
  exitFlow,
  hogFlow,
  limitedFlow,
  napFlow,
  stubbornFlow,
  whereFlow,
} from "../fixtures/environments/container-flows.ts";
import { runCli } from "../support/cli.ts";
import { explain } from "../support/cli-result.ts";
import {
  baseImage,
  containerHost,
  noContainerEngine,
  noRegistry,
  testRegistry,
} from "../support/containers.ts";
import { testRuntimeImage } from "../support/runtime-image.ts";
import { expectCode, repoRoot } from "./environment-helpers.ts";

/** A bundle server on loopback: PUT stores, GET returns (what http storage needs). */
function startArtifactServer(): Promise<{ url: string; server: Server }> {
  const objects = new Map<string, Buffer>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "";
      if (req.method === "PUT") {
        objects.set(path, Buffer.concat(chunks));
        return void res.writeHead(201).end();
      }
      const body = objects.get(path);
      if (body === undefined) return void res.writeHead(404).end();
      res.writeHead(200).end(body);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({ url: `http://127.0.0.1:${port}/flows`, server });
    }),
  );
}

const OWNER = `ctrenv-test-${process.pid}`;
const TEST_TIMEOUT_MS = 120_000;

describe("container environment: cost where containers are not used", () => {
  test("importing the registries (what every weft execute does) does not load dockerode", () => {
    const probe = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "--conditions=weftflow-source",
        "--input-type=module",
        "-e",
        `await import("./src/storage/registry.ts");
         await import("./src/environments/registry.ts");
         const { createRequire } = await import("node:module");
         const cache = createRequire(import.meta.url).cache;
         console.log(Object.keys(cache).filter((k) => k.includes("/dockerode/")).length);`,
      ],
      { cwd: repoRoot, encoding: "utf8" },
    );
    assert.equal(probe.status, 0, probe.stderr);
    assert.equal(probe.stdout.trim(), "0", "no dockerode module loaded");
  });
});

describe("container environment", { skip: noContainerEngine, concurrency: 3 }, () => {
  let artifacts: { url: string; server: Server };
  let cacheDir: string;
  let image: string;
  const host: EnvironmentHost = { owner: OWNER, containerHost: containerHost! };
  const engine = () => new ContainerEngine(containerHost);

  before(async () => {
    artifacts = await startArtifactServer();
    cacheDir = mkdtempSync(join(tmpdir(), "weft-ctrenv-cache-"));
    image = await testRuntimeImage(engine());
  });

  after(async () => {
    artifacts?.server.closeAllConnections();
    artifacts?.server.close();
    if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
    // Nothing of this file may be left on the engine.
    const left = await engine().listByLabel(`${OWNER_LABEL}=${OWNER}`);
    for (const c of left) await engine().remove(c.Id);
    assert.deepEqual(
      left.map((c) => c.Id),
      [],
      "containers left behind",
    );
  });

  async function storageWith(flow: Flow<unknown>): Promise<{ storage: Storage; location: string }> {
    const storage = createHttpStorage({ url: artifacts.url, cacheDir });
    const location = storage.addFlow(flow);
    await storage.build();
    return { storage, location };
  }

  async function run(
    flow: Flow<unknown>,
    options: ContainerEnvironmentOptions = {},
    ctx: Partial<ExecuteContext> = {},
    onStarted?: (reporter: RecordingReporter, runId: string) => void,
  ) {
    const { storage, location } = await storageWith(flow);
    // No image: weft's runtime image, built on the engine from this checkout.
    const env = createContainerEnvironment({ network: "host", baseImage, ...options });
    await env.setup(storage, host);
    const reporter = new RecordingReporter();
    const flowRunId = randomUUID();
    onStarted?.(reporter, flowRunId);
    const result = await env.execute(storage, location, { flowRunId, reporter, ...ctx });
    const left = await engine().listByLabel(`${RUN_LABEL}=${flowRunId}`);
    assert.deepEqual(left, [], "the run's container is removed");
    return { result, reporter, flowRunId };
  }

  /** Resolves once `reporter` heard `slug` Running. */
  function whenRunning(reporter: RecordingReporter, slug: string): Promise<void> {
    return new Promise((resolve) => {
      const timer = setInterval(() => {
        if (reporter.taskTypes(slug).includes("Running")) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
  }

  test("runs the flow inside a container, with task states and logs streamed back", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const { result, reporter } = await run(whereFlow, {}, { parameters: { name: "ctr" } });
    assert.equal(result.state.type, "Success", result.state.message);
    assert.equal(result.crashed, undefined);
    assert.deepEqual(reporter.taskTypes("where-1"), ["Running", "Success"]);
    assert.deepEqual(reporter.taskTypes("shout-1"), ["Running", "Success"]);
    const messages = reporter.logs().map((r) => r.message);
    const inside = messages.find((m) => m.startsWith("inside hostname="));
    assert.ok(inside, `the task's log came back: ${messages.join(" | ")}`);
    // Network "host" shares the host name: the process tree and cgroup tell the container.
    const pid = Number(/pid=(\d+)/.exec(inside)?.[1]);
    assert.ok(pid < 10, `the flow-run process is one of the container's first: ${inside}`);
    const cgroup = /cgroup=(.*)$/.exec(inside)?.[1];
    const ours = readFileSync("/proc/1/cgroup", "utf8").split("\n")[0];
    assert.notEqual(cgroup, ours, "the task ran in another cgroup (its container)");
    assert.ok(messages.includes("partial output of ctr"), "output before an event is output");
    assert.ok(messages.includes("after the partial line"), "the event after it is an event");
    assert.ok(messages.includes("stdout says hello to ctr"));
    const stderr = reporter.logs().find((r) => r.message === "stderr says hello to ctr");
    assert.equal(stderr?.level, "warn");
    assert.equal(stderr?.fields?.stream, "stderr");
    assert.deepEqual(reporter.flowTypes().at(-1), "Success", "the final state is reported once");
    assert.equal(reporter.flowTypes().filter((t) => t === "Success").length, 1);
  });

  test("tagged task runs inside the container wait at the run's task gate (concurrency limits)", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const entered: string[] = [];
    const exited: string[] = [];
    let first = true;
    const gate: TaskGate = {
      async enter(task, _signal, waiting) {
        entered.push(`${task.slug}[${task.mapIndex}] ${task.tags.join(",")}`);
        // The first asks waits once, saying why, as a full limit would.
        if (first) {
          first = false;
          waiting("waiting for a slot of ctr-gate");
        }
      },
      async exit(task) {
        exited.push(`${task.slug}[${task.mapIndex}]`);
      },
    };
    const { result, reporter } = await run(limitedFlow, {}, { taskGate: gate });
    assert.equal(result.state.type, "Success", result.state.message);
    assert.deepEqual(entered.sort(), ["limited-1[0] ctr-gate", "limited-1[1] ctr-gate"]);
    assert.deepEqual(exited.sort(), ["limited-1[0]", "limited-1[1]"]);
    const pending = [0, 1]
      .flatMap((i) => reporter.taskStates("limited-1", i))
      .filter((state) => state.type === "Pending");
    assert.deepEqual(
      pending.map((state) => state.message),
      ["waiting for a slot of ctr-gate"],
      "the wait is reported, with its reason",
    );
  });

  test("a cancel stops the container: Cancelled", { timeout: TEST_TIMEOUT_MS }, async () => {
    const controller = new AbortController();
    const { result } = await run(
      napFlow,
      { killGraceMs: 10_000 },
      { signal: controller.signal, parameters: { ms: 60_000 } },
      (reporter) => void whenRunning(reporter, "nap-1").then(() => controller.abort()),
    );
    assert.equal(result.state.type, "Cancelled", result.state.message);
    assert.equal(result.crashed, undefined);
  });

  test("a container that ignores SIGTERM is killed after the grace", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const controller = new AbortController();
    const started = Date.now();
    let cancelledAt = 0;
    const { result } = await run(
      stubbornFlow,
      { killGraceMs: 500 },
      { signal: controller.signal },
      (r) =>
        void whenRunning(r, "stubborn-1").then(() => {
          cancelledAt = Date.now();
          controller.abort();
        }),
    );
    assert.ok(cancelledAt > started);
    assert.equal(result.state.type, "Cancelled", result.state.message);
  });

  test("the container carries the run's labels, limits, user and init", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    process.env.CTRENV_TEST_VALUE = "from the host";
    let seen: ContainerInspectInfo | undefined;
    const { result, flowRunId } = await run(
      napFlow,
      {
        memoryMb: 256,
        cpus: 0.5,
        user: "1000:1000",
        containerLabels: { team: "data" },
        env: { CTRENV_TEST_VALUE: "env:CTRENV_TEST_VALUE" },
      },
      { parameters: { ms: 1000 } },
      (reporter, runId) =>
        void whenRunning(reporter, "nap-1").then(async () => {
          const [c] = await engine().listByLabel(`${RUN_LABEL}=${runId}`);
          seen = await engine().docker.getContainer(c!.Id).inspect();
        }),
    );
    assert.equal(result.state.type, "Success", result.state.message);
    assert.ok(seen, "inspected while it ran");
    assert.equal(seen.Config.Labels[RUN_LABEL], flowRunId);
    assert.equal(seen.Config.Labels[OWNER_LABEL], OWNER);
    assert.equal(seen.Config.Labels.team, "data");
    assert.equal(seen.Config.User, "1000:1000");
    assert.equal(seen.HostConfig.Memory, 256 * 1024 * 1024);
    assert.equal(seen.HostConfig.NanoCpus, 0.5e9);
    assert.equal(seen.HostConfig.NetworkMode, "host");
    assert.equal(seen.HostConfig.Init, true);
    assert.ok(seen.Config.Env.includes("CTRENV_TEST_VALUE=from the host"), "env:NAME resolved");
  });

  test("the run's timeout kills it: TimedOut", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { result } = await run(napFlow, { timeoutMs: 2500 }, { parameters: { ms: 60_000 } });
    assert.equal(result.state.type, "TimedOut", result.state.message);
    assert.match(result.state.message ?? "", /hard timeout after 2500 ms/);
  });

  test("over its memory limit: Failed, out of memory, crashed (run health reschedules it)", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const { result } = await run(hogFlow, { memoryMb: 96 });
    assert.equal(result.state.type, "Failed", result.state.message);
    assert.match(result.state.message ?? "", /out of memory/);
    assert.equal(result.crashed, true);
  });

  test("killed from outside: Failed, crashed", { timeout: TEST_TIMEOUT_MS }, async () => {
    const { result } = await run(
      napFlow,
      {},
      { parameters: { ms: 60_000 } },
      (reporter, runId) =>
        void whenRunning(reporter, "nap-1").then(async () => {
          const [c] = await engine().listByLabel(`${RUN_LABEL}=${runId}`);
          await engine().docker.getContainer(c!.Id).kill({ signal: "SIGKILL" });
        }),
    );
    assert.equal(result.state.type, "Failed", result.state.message);
    assert.match(result.state.message ?? "", /killed by SIGKILL/);
    assert.equal(result.crashed, true);
  });

  test("an exit without a final state says how it ended", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const { result } = await run(exitFlow, {}, { parameters: { code: 3 } });
    assert.equal(result.state.type, "Failed");
    assert.match(result.state.message ?? "", /exited with code 3/);
    assert.equal(result.crashed, undefined);
  });

  test("weft run --environment container --storage container: a flow file run in a container", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const imageName = `ctrenv-test/cli-run-${process.pid}`;
    try {
      const result = await runCli(
        [
          "run",
          "test/fixtures/environments/container-flows.ts",
          "--flow",
          "ctr-where",
          "--environment",
          "container",
          "--storage",
          "container",
          "--image-name",
          imageName,
          "--base-image",
          baseImage,
          "--json",
        ],
        { env: { WEFT_HOME: cacheDir, WEFT_CONTAINER_HOST: containerHost! } },
      );
      assert.equal(result.code, 0, explain(result));
      const run = JSON.parse(result.stdout) as { state: { type: string }; tasks: unknown[] };
      assert.equal(run.state.type, "Success");
      assert.match(result.stderr, /inside hostname=/);
    } finally {
      const images = await engine().docker.listImages({
        filters: { reference: [`localhost/${imageName}`] },
      });
      for (const i of images) await engine().docker.getImage(i.Id).remove({ force: true });
    }
  });

  test("reap removes what an owner left, and only that", { timeout: TEST_TIMEOUT_MS }, async () => {
    const owner = `ctrenv-reap-${process.pid}`;
    const make = (who: string) =>
      engine().docker.createContainer({
        Image: image,
        Cmd: ["node", "-e", "setTimeout(() => {}, 60000)"],
        Labels: { [RUN_LABEL]: randomUUID(), [OWNER_LABEL]: who },
        HostConfig: { NetworkMode: "none", Init: true },
      });
    const mine = await make(owner);
    const other = await make(`${owner}-other`);
    await mine.start();
    try {
      const removed = await containerEnvironmentKind.reap!({ ...host, owner });
      assert.equal(removed, 1);
      assert.deepEqual(await engine().listByLabel(`${OWNER_LABEL}=${owner}`), []);
      assert.equal((await engine().listByLabel(`${OWNER_LABEL}=${owner}-other`)).length, 1);
    } finally {
      await engine().remove(mine.id);
      await engine().remove(other.id);
    }
  });

  test("pull policy always pulls the image at setup", {
    timeout: TEST_TIMEOUT_MS,
    skip: noRegistry,
  }, async () => {
    const ref = `${testRegistry}/ctrenv-test/runtime:${process.pid}`;
    const [repo, tag] = [ref.slice(0, ref.lastIndexOf(":")), ref.slice(ref.lastIndexOf(":") + 1)];
    await engine().docker.getImage(image).tag({ repo, tag });
    try {
      await engine().push(ref);
      // Untagged here, still in the registry: only a pull brings the name back.
      await engine().docker.getImage(ref).remove();
      assert.equal(await engine().inspectImage(ref), undefined);
      const { storage, location } = await storageWith(whereFlow);
      const env = createContainerEnvironment({ image: ref, network: "host", pullPolicy: "always" });
      await env.setup(storage, host);
      assert.ok(await engine().inspectImage(ref), "pulled at setup");
      const result = await env.execute(storage, location, { flowRunId: randomUUID() });
      assert.equal(result.state.type, "Success", result.state.message);
    } finally {
      await engine()
        .docker.getImage(ref)
        .remove()
        .catch(() => {});
    }
  });

  test("serializes and comes back the same", () => {
    const options: ContainerEnvironmentOptions = {
      image: "localhost/x:1",
      baseImage: "localhost/base:1",
      network: "host",
      memoryMb: 128,
      cpus: 0.5,
      env: { API_KEY: "env:API_KEY" },
      containerLabels: { team: "data" },
      mounts: [{ source: "/data", target: "/data", readOnly: true }],
      pullPolicy: "never",
      user: "1000",
      timeoutMs: 1000,
      killGraceMs: 100,
      labels: ["gpu"],
    };
    const json = createContainerEnvironment(options).toJSON();
    assert.deepEqual(environmentFromJSON(json).toJSON(), json);
    assert.deepEqual(json, { type: "container", schemaVersion: 1, ...options });
  });

  describe("bad input, each in one line, nothing left running", () => {
    test("parameters too large for a container's variables", {
      timeout: TEST_TIMEOUT_MS,
    }, async () => {
      const { result } = await run(whereFlow, {}, { parameters: { name: "x".repeat(70_000) } });
      assert.equal(result.state.type, "Failed");
      assert.match(result.state.message ?? "", /a container run takes 65536 at most/);
    });

    test("a literal value in env", async () => {
      const error = await expectCode(
        () => createContainerEnvironment({ env: { API_KEY: "hunter2" } }),
        "CREDENTIAL_IN_CONFIG",
        "a literal",
      );
      assert.match(error.message, /env\.API_KEY is a literal value/);
      assert.doesNotMatch(error.message, /hunter2/);
    });

    test("a mount the host does not allow", async () => {
      const { storage } = await storageWith(whereFlow);
      const env = createContainerEnvironment({
        image,
        network: "host",
        mounts: [{ source: "/etc", target: "/host-etc" }],
      });
      const error = await expectCode(
        () => env.setup(storage, { ...host, allowMounts: ["/data"] }),
        "CONTAINER_MOUNT_NOT_ALLOWED",
        "/etc",
      );
      assert.match(error.message, /mounts \/etc, which this agent does not allow/);
      assert.match(error.hint ?? "", /--allow-mount \/etc/);
      // Inside an allowed directory it passes.
      const ok = createContainerEnvironment({
        image,
        network: "host",
        mounts: [{ source: "/tmp/data/x", target: "/x" }],
      });
      await ok.setup(storage, { ...host, allowMounts: ["/tmp/data"] });
    });

    test("an engine that does not answer", async () => {
      const { storage } = await storageWith(whereFlow);
      const env = createContainerEnvironment({ image, network: "host" });
      const error = await expectCode(
        () => env.setup(storage, { ...host, containerHost: "unix:///nonexistent/ctrenv.sock" }),
        "CONTAINER_ENGINE_UNREACHABLE",
        "a missing socket",
      );
      assert.match(error.message, /nonexistent\/ctrenv\.sock/);
    });

    test("an image that is not there and cannot be pulled", async () => {
      const { storage } = await storageWith(whereFlow);
      const missing = "127.0.0.1:1/weft/ctrenv-missing:1";
      const error = await expectCode(
        () => createContainerEnvironment({ image: missing, network: "host" }).setup(storage, host),
        "IMAGE_NOT_FOUND",
        "a missing image",
      );
      assert.match(error.message, /ctrenv-missing/);
      const never = await expectCode(
        () =>
          createContainerEnvironment({
            image: "localhost/ctrenv-missing:1",
            network: "host",
            pullPolicy: "never",
          }).setup(storage, host),
        "IMAGE_NOT_FOUND",
        "pull policy never",
      );
      assert.match(never.message, /pull policy is "never"/);
    });

    test("local storage (bundles in this host's directories)", async () => {
      const dir = mkdtempSync(join(tmpdir(), "weft-ctrenv-local-"));
      try {
        const storage = createLocalStorage({ directory: dir, hostnameLabel: false });
        storage.addFlow(whereFlow);
        await storage.build();
        const error = await expectCode(
          () => createContainerEnvironment({ image }).setup(storage, host),
          "STORAGE_NOT_SHAREABLE",
          "local storage",
        );
        assert.match(error.message, /cannot load from local storage/);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    test("a storage fetched over the network with network none", async () => {
      const { storage } = await storageWith(whereFlow);
      const error = await expectCode(
        () => createContainerEnvironment({ image }).setup(storage, host),
        "INVALID_FLOW_OPTIONS",
        "network none",
      );
      assert.match(error.message, /network "none"/);
    });
  });
});
