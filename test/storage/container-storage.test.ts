// Container storage against a real engine (Podman's Docker API service in CI) and a registry on
// loopback: a flow built into an image with its external packages and an extra file, run by
// `weft execute` inside a container from the env runner alone; the same code is not built
// again; pushed images are named by digest and pulled back; a missing package or base image is
// named. Options, JSON and flags need no engine.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ContainerEngine } from "../../src/containers/engine.ts";
import { RUNTIME_COMMAND } from "../../src/containers/runtime-image.ts";
import type { Flow } from "../../src/core/flow.ts";
import { createContainerEnvironment } from "../../src/environments/container/container-environment.ts";
import { createLocalEnvironment } from "../../src/environments/local-environment.ts";
import { createSubprocessEnvironment } from "../../src/environments/subprocess/subprocess-environment.ts";
import { pairingRefusal } from "../../src/serialization/deployment.ts";
import { createContainerStorage } from "../../src/storage/container-storage.ts";
import { createStorage, storageFromJSON } from "../../src/storage/registry.ts";
import { conformanceFlow } from "../fixtures/storage/conformance-flows.ts";
import { removeRepository, runInImage } from "../support/container-run.ts";
import {
  baseImage,
  containerHost,
  noContainerEngine,
  noRegistry,
  testRegistry,
} from "../support/containers.ts";
import { expectCode } from "../support/expect-code.ts";

/** The engine's address (the engine suites skip without one). */
const host = containerHost ?? "";
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
const imageName = `weft-ctrstore-test-${process.pid}`;
let root: string;

/**
 * A project in a fresh directory: package.json with one dependency, node_modules holding it
 * (it needs a second package, installed once hoisted and once nested), weftflow linked to this
 * checkout, a data file, and flow.mjs whose task uses all of them.
 */
function makeProject(label: string, greeting = "hello"): { dir: string; flowFile: string } {
  const dir = join(root, label);
  const modules = join(dir, "node_modules");
  const pkg = (at: string, manifest: object, files: Record<string, string>) => {
    mkdirSync(at, { recursive: true });
    writeFileSync(join(at, "package.json"), JSON.stringify(manifest));
    for (const [name, text] of Object.entries(files)) writeFileSync(join(at, name), text);
  };
  pkg(dir, { name: label, type: "module", dependencies: { "ctr-shout": "1.0.0" } }, {});
  pkg(
    join(modules, "ctr-shout"),
    {
      name: "ctr-shout",
      version: "1.0.0",
      main: "index.js",
      dependencies: { "ctr-bang": "2.0.0" },
    },
    {
      "index.js":
        "const bang = require('ctr-bang'); exports.shout = (s) => s.toUpperCase() + bang;",
    },
  );
  // The hoisted ctr-bang is another version: ctr-shout must get its own nested copy.
  pkg(
    join(modules, "ctr-bang"),
    { name: "ctr-bang", version: "1.0.0", main: "index.js" },
    {
      "index.js": "module.exports = '?';",
    },
  );
  pkg(
    join(modules, "ctr-shout", "node_modules", "ctr-bang"),
    { name: "ctr-bang", version: "2.0.0", main: "index.js" },
    { "index.js": "module.exports = '!';" },
  );
  symlinkSync(repoRoot, join(modules, "weftflow"), "dir");
  writeFileSync(join(dir, "data.txt"), "from the image");
  const flowFile = join(dir, "flow.mjs");
  writeFileSync(
    flowFile,
    [
      'import { readFileSync } from "node:fs";',
      'import { hostname } from "node:os";',
      'import { flow, task } from "weftflow";',
      'import { shout } from "ctr-shout";',
      `const say = task("say", () => {`,
      `  const line = \`${greeting}: \${shout("ran")} in \${process.cwd()} on \${hostname()}: \${readFileSync("data.txt", "utf8")}\`;`,
      "  console.log(line);",
      "  return line;",
      "});",
      `export const ctrFlow = flow("ctr-flow-${label}", () => say());`,
      "",
    ].join("\n"),
  );
  return { dir, flowFile };
}

async function loadFlow(flowFile: string): Promise<Flow<unknown>> {
  const module = (await import(pathToFileURL(flowFile).href)) as { ctrFlow: Flow<unknown> };
  return module.ctrFlow;
}

describe("container storage: options, JSON and flags", () => {
  it("round-trips through JSON and names the image by repository", () => {
    const storage = createContainerStorage({
      imageName: "team/etl",
      baseImage: "localhost/base:1",
      external: ["pg"],
      extraFiles: { "conf/app.json": "./app.json" },
      image: "localhost/team/etl:abc",
      flows: { etl: "a.mjs#etl" },
    });
    assert.equal(storage.type, "container");
    assert.equal(storage.name, "localhost/team/etl");
    assert.equal(storage.shareable, true);
    assert.equal(storage.remote, false);
    assert.deepEqual(storage.labels, [hostname()]);
    const json = storage.toJSON();
    assert.deepEqual(storageFromJSON(json).toJSON(), json);
    assert.equal(json.image, "localhost/team/etl:abc");

    const pushed = createContainerStorage({ imageName: "etl", registry: "127.0.0.1:5000/team" });
    assert.equal(pushed.remote, true);
    assert.deepEqual(pushed.labels, []);
    assert.equal(pushed.name, "127.0.0.1:5000/team/etl");
  });

  it("pairs with the container environment only: others are refused before anything runs", async () => {
    const storage = createContainerStorage({ imageName: "team/etl", image: "localhost/x:1" });
    for (const environment of [createSubprocessEnvironment(), createLocalEnvironment()] as const) {
      const refusal = pairingRefusal(environment, storage);
      assert.equal(refusal?.code, "STORAGE_NOT_SHAREABLE", environment.type);
      assert.match(refusal?.message ?? "", /keeps its flows in a container image/);
      assert.match(refusal?.hint ?? "", /--environment container/);
      // The environment refuses it at setup too (the guard), naming the same.
      await expectCode(() => environment.setup(storage), "STORAGE_NOT_SHAREABLE", environment.type);
    }
    assert.equal(pairingRefusal(createContainerEnvironment(), storage), undefined);
  });

  it("refuses a bad option naming it, and takes its command-line flags", async () => {
    const error = await expectCode(
      () => createContainerStorage({ imageName: "Team/ETL" }),
      "INVALID_ARGUMENT",
      "an upper-case repository",
    );
    assert.match(error.message, /imageName/);
    const fromFlags = createStorage("container", {
      imageName: "etl",
      registry: "127.0.0.1:5000",
      baseImage: "localhost/base:1",
      platform: "linux/amd64",
      packageDependencies: true,
    });
    assert.deepEqual(fromFlags.toJSON(), {
      type: "container",
      schemaVersion: 1,
      imageName: "etl",
      registry: "127.0.0.1:5000",
      baseImage: "localhost/base:1",
      platform: "linux/amd64",
      packageDependencies: true,
      flows: {},
    });
  });
});

describe("container storage: a build refused before the engine", () => {
  it("refuses a platform other than this machine's, naming both", async () => {
    const storage = createContainerStorage({
      platform: "linux/s390x",
      containerHost: "unix:///nonexistent.sock",
    });
    storage.addFlow(conformanceFlow);
    const error = await expectCode(() => storage.build(), "INVALID_ARGUMENT", "a foreign platform");
    assert.match(error.message, /platform linux\/s390x is not this machine's \(linux\//);
  });
});

describe("container storage", { skip: noContainerEngine }, () => {
  const engine = () => new ContainerEngine(containerHost);

  before(() => {
    root = mkdtempSync(join(tmpdir(), "weft-ctrstore-"));
  });
  after(async () => {
    await removeRepository(engine(), `localhost/${imageName}`);
    await removeRepository(engine(), `${testRegistry}/weft-ctrstore/${imageName}`);
    rmSync(root, { recursive: true, force: true });
  });

  it("builds an image that runs the flow from its env runner alone, and builds it once", async () => {
    const { flowFile } = makeProject("run");
    const options = {
      imageName,
      baseImage,
      containerHost: host,
      packageDependencies: true,
      extraFiles: { "data.txt": join(root, "run", "data.txt") },
    };
    const storage = createContainerStorage(options);
    const location = storage.addFlow(await loadFlow(flowFile));
    assert.match(location, /^[0-9a-f]{64}\.mjs#ctr-flow-run$/);
    await storage.build();
    const image = storage.toJSON().image as string;
    assert.match(image, new RegExp(`^localhost/${imageName}:[0-9a-f]{32}$`));

    const runner = storage.getEnvRunner(location);
    assert.deepEqual(runner.container, { image, command: RUNTIME_COMMAND });
    assert.equal(runner.env.WEFT_FLOW_LOCATION, location);
    await expectCode(() => runner.start(), "STORAGE_NOT_SHAREABLE", "starting a process here");
    const outside = await expectCode(
      () => storage.getRunner(location),
      "STORAGE_UNREACHABLE",
      "loading outside the image",
    );
    assert.match(outside.message, new RegExp(image));

    // What the container environment does: the image, the command, the env runner's variables.
    const ran = await runInImage(engine(), image, runner.container!.command, runner.env);
    assert.equal(ran.code, 0, `${ran.stdout}\n${ran.stderr}`);
    assert.match(
      ran.stdout + ran.stderr,
      /hello: RAN! in \/opt\/weft-flows on \S+: from the image/,
    );
    assert.doesNotMatch(ran.stdout + ran.stderr, new RegExp(`on ${hostname()}:`));

    // The same code and settings: the same image, found rather than built again.
    const before = await engine().inspectImage(image);
    const again = createContainerStorage(options);
    again.addFlow(await loadFlow(flowFile));
    await again.build();
    assert.equal(again.toJSON().image, image);
    assert.equal((await engine().inspectImage(image))?.id, before?.id);

    // Changed code: another image.
    const changed = makeProject("changed", "bonjour");
    const other = createContainerStorage({
      ...options,
      extraFiles: { "data.txt": join(changed.dir, "data.txt") },
    });
    other.addFlow(await loadFlow(changed.flowFile));
    await other.build();
    assert.notEqual(other.toJSON().image, image);
  });

  it("inside the image, a location naming an absent flow is STORAGE_FLOW_MISSING", async () => {
    const { flowFile } = makeProject("missing-flow");
    const storage = createContainerStorage({
      imageName,
      baseImage,
      containerHost: host,
      packageDependencies: true,
    });
    const location = storage.addFlow(await loadFlow(flowFile));
    await storage.build();
    const image = storage.toJSON().image as string;
    const wrong = location.replace(/#.*$/, "#no-such-flow");
    const ran = await runInImage(engine(), image, RUNTIME_COMMAND, {
      WEFT_FLOW_LOCATION: wrong,
      WEFT_STORAGE: JSON.stringify(storage.toJSON()),
    });
    assert.notEqual(ran.code, 0);
    assert.match(ran.stderr, /has no flow named "no-such-flow"[\s\S]*STORAGE_FLOW_MISSING/);
  });

  it("names a package the flow needs that is not installed", async () => {
    const { flowFile } = makeProject("no-package");
    const storage = createContainerStorage({
      imageName,
      baseImage,
      containerHost: host,
      external: ["weft-ctrstore-not-installed"],
    });
    storage.addFlow(await loadFlow(flowFile));
    const error = await expectCode(
      () => storage.build(),
      "CONTAINER_BUILD_FAILED",
      "a missing package",
    );
    assert.match(
      error.message,
      /package weft-ctrstore-not-installed, needed by the flows of .*no-package, is not installed/,
    );
  });

  it("names an extra file that cannot be read", async () => {
    const { flowFile } = makeProject("no-extra");
    const storage = createContainerStorage({
      imageName,
      baseImage,
      containerHost: host,
      extraFiles: { "conf/app.json": join(root, "no-extra", "missing.json") },
    });
    storage.addFlow(await loadFlow(flowFile));
    const error = await expectCode(
      () => storage.build(),
      "CONTAINER_BUILD_FAILED",
      "a missing extra file",
    );
    assert.match(error.message, /extra file .*missing\.json \(for conf\/app\.json in the image\)/);
  });

  it("names a base image that does not exist", async () => {
    const { flowFile } = makeProject("no-base");
    const storage = createContainerStorage({
      imageName,
      baseImage: "localhost/weft-ctrstore-no-base:1",
      containerHost: host,
    });
    storage.addFlow(await loadFlow(flowFile));
    const error = await expectCode(
      () => storage.build(),
      "IMAGE_NOT_FOUND",
      "a missing base image",
    );
    assert.match(error.message, /localhost\/weft-ctrstore-no-base:1/);
  });

  it("pushes to a registry, names the image by digest, and runs after a pull", {
    skip: noRegistry,
  }, async () => {
    const { flowFile } = makeProject("pushed");
    const storage = createContainerStorage({
      imageName,
      registry: `${testRegistry}/weft-ctrstore`,
      baseImage,
      containerHost: host,
      packageDependencies: true,
      extraFiles: { "data.txt": join(root, "pushed", "data.txt") },
    });
    const location = storage.addFlow(await loadFlow(flowFile));
    await storage.build();
    const image = storage.toJSON().image as string;
    const repository = `${testRegistry}/weft-ctrstore/${imageName}`;
    assert.ok(image.startsWith(`${repository}@sha256:`), image);
    assert.equal(storage.remote, true);
    const json = storage.toJSON();

    // Nothing local left: the tag and the digest both go, then the engine pulls by digest.
    const local = await engine().docker.listImages({ filters: { reference: [repository] } });
    assert.equal(local.length, 1, `one image of ${repository} was built`);
    await engine().docker.getImage(local[0]!.Id).remove({ force: true });
    assert.equal(await engine().inspectImage(image), undefined);
    assert.deepEqual(
      await engine().docker.listImages({ filters: { reference: [repository] } }),
      [],
    );
    await engine().pull(image);
    const runner = storageFromJSON(json).getEnvRunner(location);
    assert.equal(runner.container?.image, image);
    const ran = await runInImage(engine(), image, runner.container!.command, runner.env);
    assert.equal(ran.code, 0, `${ran.stdout}\n${ran.stderr}`);
    assert.match(ran.stdout + ran.stderr, /hello: RAN! in \/opt\/weft-flows/);
  });
});
