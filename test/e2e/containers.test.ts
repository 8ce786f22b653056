// Containers end to end (issue 15), as a user drives them: one `weft up` (server, loops and its
// agent, on an ephemeral port) and, where a test kills or misconfigures an agent, `weft agent
// start` processes; flows registered with `--storage container --environment container` (or
// their own container environment in code), built into images on a real engine (Podman's
// Docker API service) and pushed to a registry on loopback. What happened is read back from
// the database through the API client. Tests share the server and run concurrently; each one
// uses flows of its own name, and every container of a run must be gone when it ends.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { after, before, describe, test } from "node:test";
import { ContainerEngine, RUN_LABEL } from "../../src/containers/engine.ts";
import type { FlowRunDetail } from "../../src/serialization/api-schemas.ts";
import { runCli } from "../support/cli.ts";
import { explain } from "../support/cli-result.ts";
import {
  baseImage,
  containerHost,
  noContainerEngine,
  noRegistry,
  testRegistry,
} from "../support/containers.ts";
import {
  logMessages,
  register,
  removeTempDirs,
  type ServerProcess,
  startAgentProcess,
  startUp,
  stopAll,
  summarize,
  taskStates,
  tempDir,
  type WeftProcess,
  waitForRun,
} from "./e2e-process.ts";

const fixtures = "test/fixtures/e2e/containers";
const TEST_TIMEOUT_MS = 120_000;
/** The heartbeat timeout of the server's run health: a crashed run is rescheduled this soon. */
const HEARTBEAT_TIMEOUT_MS = 4000;

describe("containers end to end", { skip: noContainerEngine, concurrency: 8 }, () => {
  let home: string;
  let up: ServerProcess;
  const engine = new ContainerEngine(containerHost);
  const env = { WEFT_CONTAINER_HOST: containerHost! };
  const agents: WeftProcess[] = [];
  const base = ["--base-image", baseImage];

  /** Registers `file` and answers flow name → id of the version registered. */
  async function registerFile(file: string, args: readonly string[]) {
    const registered = await register(`${fixtures}/${file}`, args, { api: up.url, home, env });
    return Object.fromEntries(registered.flows.map((f) => [f.name, f.id]));
  }

  /** Creates a run and waits for it to end; every container it had must be gone by then. */
  async function runToEnd(
    request: { flowName?: string; flowId?: string; parameters?: Record<string, number> },
    options: { labels?: string[]; processes?: WeftProcess[]; timeoutMs?: number } = {},
  ): Promise<FlowRunDetail> {
    const { run } = await up.api.createFlowRun({
      ...request,
      ...(options.labels === undefined ? {} : { labels: options.labels }),
    });
    const done = await waitForRun(up.api, run.id, {
      timeoutMs: options.timeoutMs ?? 60_000,
      processes: [up, ...(options.processes ?? [])],
    });
    assert.deepEqual(await engine.listByLabel(`${RUN_LABEL}=${run.id}`), [], "no container left");
    return done;
  }

  let mainFlows: Promise<Record<string, string>>;

  /** Ids of the images of `repository` on the engine. */
  async function imagesOf(repository: string): Promise<string[]> {
    const images = await engine.docker.listImages({ filters: { reference: [repository] } });
    return images.map((i) => i.Id);
  }

  before(async () => {
    home = tempDir("ctr-home");
    up = await startUp({
      home,
      env,
      concurrency: 8,
      heartbeatIntervalMs: 500,
      loops: {
        loopIntervalMs: 300,
        heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
        maxReschedules: 1,
      },
    });
    // One registration (one image) for the flows most tests run.
    mainFlows = registerFile("flows.ts", [
      "--storage",
      "container",
      "--environment",
      "container",
      "--image-name",
      "ctrenv-e2e/main",
      ...base,
    ]);
    await mainFlows;
  });

  after(async () => {
    await stopAll();
    removeTempDirs();
    // The images this file built (every one is named ctrenv-e2e/…).
    for (const image of await engine.docker.listImages()) {
      if ((image.RepoTags ?? []).some((t) => t.includes("/ctrenv-e2e/"))) {
        await engine.docker
          .getImage(image.Id)
          .remove({ force: true })
          .catch(() => {});
      }
    }
  });

  test("weft up runs a flow in a container: tasks ran inside it, states and logs in the database", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await mainFlows;
    const result = await runCli(
      [
        "run",
        "--remote",
        "ctr-e2e-where",
        "--param",
        "name=e2e",
        "--wait",
        "--json",
        "--api",
        up.url,
      ],
      { env: { WEFT_HOME: home } },
    );
    assert.equal(result.code, 0, explain(result));
    const id = (JSON.parse(result.stdout) as { id: string }).id;
    const run = await up.api.getFlowRun(id);
    assert.equal(run.state.type, "Success", summarize(run));
    assert.deepEqual(taskStates(run), {
      name: "Success",
      "where-1": "Success",
      "shout-1": "Success",
    });
    const logs = await logMessages(up.api, id);
    const inside = logs.find((m) => m.startsWith("inside: "));
    assert.ok(inside, `the task's log is in the database: ${logs.join(" | ")}`);
    // Network none: the container has a host name of its own; and its own cgroup.
    assert.doesNotMatch(inside, new RegExp(`hostname=${hostname()} `));
    const ours = readFileSync("/proc/1/cgroup", "utf8").split("\n")[0];
    assert.ok(!inside.endsWith(`cgroup=${ours}`), inside);
    assert.ok(logs.includes("stdout says hello to e2e"), "the container's stdout is a log");
    assert.deepEqual(await engine.listByLabel(`${RUN_LABEL}=${id}`), []);
  });

  test("pushed to the registry, the local image removed: the agent pulls it", {
    timeout: TEST_TIMEOUT_MS,
    skip: noRegistry,
  }, async () => {
    const flows = await registerFile("pulled.ts", [
      "--storage",
      "container",
      "--environment",
      "container",
      "--image-name",
      "ctrenv-e2e/pulled",
      "--registry",
      testRegistry!,
      ...base,
    ]);
    const detail = await up.api.getFlow(flows["ctr-e2e-pulled"]!);
    const image = (detail.storage as unknown as { image: string }).image;
    assert.match(image, /@sha256:[0-9a-f]{64}$/, "the storage names the image by digest");
    // The engine's own digest of an image it built is not the registry's: find it by name.
    const repository = image.slice(0, image.indexOf("@"));
    const local = await imagesOf(repository);
    assert.ok(local.length > 0, "built here");
    for (const id of local) await engine.docker.getImage(id).remove({ force: true });
    assert.deepEqual(await imagesOf(repository), [], "removed");
    const run = await runToEnd({ flowId: flows["ctr-e2e-pulled"]! });
    assert.equal(run.state.type, "Success", summarize(run));
    assert.ok(await engine.inspectImage(image), "pulled back, by digest");
    assert.ok((await logMessages(up.api, run.id)).includes("hello from pulled"));
  });

  test("a cancelled run stops its container", { timeout: TEST_TIMEOUT_MS }, async () => {
    await mainFlows;
    const { run } = await up.api.createFlowRun({
      flowName: "ctr-e2e-nap",
      parameters: { ms: 60_000 },
    });
    await waitForRun(up.api, run.id, {
      until: (r) => taskStates(r)["nap-1"] === "Running",
      what: "nap-1 Running",
      processes: [up],
    });
    assert.equal((await engine.listByLabel(`${RUN_LABEL}=${run.id}`)).length, 1);
    await up.api.cancelFlowRun(run.id);
    const done = await waitForRun(up.api, run.id, { processes: [up] });
    assert.equal(done.state.type, "Cancelled", summarize(done));
    assert.deepEqual(await engine.listByLabel(`${RUN_LABEL}=${run.id}`), []);
  });

  test("over its memory limit: out of memory, rescheduled, then Failed", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const flows = await registerFile("own-environment.ts", [
      "--storage",
      "container",
      "--image-name",
      "ctrenv-e2e/own",
      ...base,
    ]);
    const run = await runToEnd({ flowId: flows["ctr-e2e-hog"]! });
    assert.equal(run.state.type, "Failed", summarize(run));
    assert.match(run.state.message ?? "", /failed by run health/);
    assert.ok(
      run.history.some((s) => /rescheduled by run health/.test(s.message ?? "")),
      `rescheduled once first: ${summarize(run)}`,
    );
    const oom = (await logMessages(up.api, run.id)).filter((m) =>
      /ran out of memory \(memory limit 96 MiB\)/.test(m),
    );
    assert.equal(oom.length, 2, "each attempt's log says it ran out of memory");
  });

  test("an agent killed -9 mid-run: its container is reaped when it restarts, the run rescheduled", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    await mainFlows;
    const name = `ctrenv-k9-${process.pid}`;
    const agentOptions = {
      home,
      env,
      api: up.url,
      name,
      labels: ["ctrenv-k9"],
      heartbeatIntervalMs: 500,
    };
    const first = await startAgentProcess(agentOptions);
    agents.push(first);
    const { run } = await up.api.createFlowRun({
      flowName: "ctr-e2e-k9",
      parameters: { ms: 5000 },
    });
    await waitForRun(up.api, run.id, {
      until: (r) => taskStates(r)["sleepy-1"] === "Running",
      what: "sleepy-1 Running",
      processes: [up, first],
    });
    const [container] = await engine.listByLabel(`${RUN_LABEL}=${run.id}`);
    assert.ok(container, "the run's container is there");
    first.kill("SIGKILL");
    await first.done.catch(() => {});
    assert.equal(
      (await engine.listByLabel(`${RUN_LABEL}=${run.id}`)).length,
      1,
      "kill -9 leaves the container",
    );
    // Its stdin closed with the agent: the flow run stopped itself, no work goes on unheard.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const state = (await engine.docker.getContainer(container.Id).inspect()).State;
      if (!state.Running) break;
      assert.ok(Date.now() < deadline, "the orphaned container stops by itself");
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const second = await startAgentProcess(agentOptions);
    agents.push(second);
    assert.match(
      second.stderr(),
      /removed 1 container run\(s\) an earlier agent of this name left/,
    );
    const gone = await engine.docker
      .getContainer(container.Id)
      .inspect()
      .then(
        () => false,
        () => true,
      );
    assert.ok(gone, "the old container is gone");
    const done = await waitForRun(up.api, run.id, { processes: [up, second] });
    assert.equal(done.state.type, "Success", summarize(done));
    assert.ok(
      done.history.some((s) => /rescheduled by run health/.test(s.message ?? "")),
      summarize(done),
    );
    await second.stop();
  });

  test("two versions of a flow: runs of each use their own image", {
    timeout: TEST_TIMEOUT_MS,
  }, async () => {
    const args = [
      "--storage",
      "container",
      "--environment",
      "container",
      "--image-name",
      "ctrenv-e2e/versioned",
      ...base,
    ];
    const v1 = (await registerFile("versioned-v1.ts", args))["ctr-e2e-versioned"]!;
    const v2 = (await registerFile("versioned-v2.ts", args))["ctr-e2e-versioned"]!;
    const images = await Promise.all(
      [v1, v2].map(
        async (id) => ((await up.api.getFlow(id)).storage as unknown as { image: string }).image,
      ),
    );
    assert.notEqual(images[0], images[1]);
    const [r2, r1] = await Promise.all([runToEnd({ flowId: v2 }), runToEnd({ flowId: v1 })]);
    assert.equal(r1.flowVersion, 1);
    assert.equal(r2.flowVersion, 2);
    assert.ok((await logMessages(up.api, r1.id)).includes("this is version 1"));
    assert.ok((await logMessages(up.api, r2.id)).includes("this is version 2"));
  });

  describe("bad input: one clear line, nothing left running", () => {
    test("a literal secret in env is refused at registration", async () => {
      const result = await runCli(
        ["register", `${fixtures}/secret.ts`, "--api", up.url, "--storage", "container", ...base],
        { env: { WEFT_HOME: home, ...env } },
      );
      assert.equal(result.code, 2, explain(result));
      assert.match(
        result.stderr,
        /^error: .*env\.API_KEY is a literal value.*\(CREDENTIAL_IN_CONFIG\)$/m,
      );
      assert.doesNotMatch(result.stderr, /s3cr3t/);
    });

    test("a mount the agent does not allow fails the run", {
      timeout: TEST_TIMEOUT_MS,
    }, async () => {
      const flows = await registerFile("own-environment.ts", [
        "--storage",
        "container",
        "--image-name",
        "ctrenv-e2e/own",
        ...base,
      ]);
      const run = await runToEnd({ flowId: flows["ctr-e2e-mount"]! });
      assert.equal(run.state.type, "Failed");
      assert.match(
        run.state.message ?? "",
        /^deploy failed: the container environment mounts \/etc, which this agent does not allow/,
      );
    });

    test("an image that is gone, with no registry", { timeout: TEST_TIMEOUT_MS }, async () => {
      const flows = await registerFile("gone.ts", [
        "--storage",
        "container",
        "--environment",
        "container",
        "--image-name",
        "ctrenv-e2e/gone",
        ...base,
      ]);
      const image = (
        (await up.api.getFlow(flows["ctr-e2e-gone"]!)).storage as unknown as { image: string }
      ).image;
      const local = await engine.inspectImage(image);
      await engine.docker.getImage(local!.id).remove({ force: true });
      const run = await runToEnd({ flowId: flows["ctr-e2e-gone"]! });
      assert.equal(run.state.type, "Failed");
      assert.match(run.state.message ?? "", /^deploy failed: image \S+ is not on the engine/);
    });

    test("an engine the agent cannot reach", { timeout: TEST_TIMEOUT_MS }, async () => {
      await mainFlows;
      const bad = await startAgentProcess({
        home,
        api: up.url,
        name: `ctrenv-bad-${process.pid}`,
        labels: ["ctrenv-bad"],
        env: { WEFT_CONTAINER_HOST: "unix:///nonexistent/ctrenv-e2e.sock" },
      });
      agents.push(bad);
      const run = await runToEnd(
        { flowName: "ctr-e2e-where" },
        { labels: ["ctrenv-bad"], processes: [bad] },
      );
      assert.equal(run.state.type, "Failed");
      assert.match(
        run.state.message ?? "",
        /^deploy failed: no container engine answers at unix:\/\/\/nonexistent\/ctrenv-e2e\.sock/,
      );
      await bad.stop();
    });
  });
});
