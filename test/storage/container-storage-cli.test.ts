// Container storage set from the command line (`weft build --storage container --image-name …
// --registry … --base-image …`) and from the flow file (its `storage` option), against a real
// engine and registry: each answers JSON naming the image, which runs the flow in a container.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { ContainerEngine } from "../../src/containers/engine.ts";
import { RUNTIME_COMMAND } from "../../src/containers/runtime-image.ts";
import { serializeFlow } from "../../src/serialization/flow-serializer.ts";
import { storageFromJSON } from "../../src/storage/registry.ts";
import { runCli } from "../support/cli.ts";
import { removeRepository, runInImage } from "../support/container-run.ts";
import {
  baseImage,
  containerHost,
  noContainerEngine,
  noRegistry,
  testRegistry,
} from "../support/containers.ts";

const FIXTURE = "test/fixtures/storage/container-flow.ts";
const cliImageName = `weft-ctrstore-cli-${process.pid}`;

describe("container storage from the command line and the flow file", {
  skip: noContainerEngine,
}, () => {
  const engine = () => new ContainerEngine(containerHost);
  after(async () => {
    await removeRepository(engine(), `${testRegistry}/weft-ctrstore/${cliImageName}`);
    await removeRepository(engine(), "localhost/weft-ctrstore-fixture");
  });

  it("weft build takes the container flags and pushes by digest", {
    skip: noRegistry,
  }, async () => {
    const imageName = cliImageName;
    const result = await runCli(
      [
        "build",
        FIXTURE,
        "--storage",
        "container",
        "--image-name",
        imageName,
        "--registry",
        `${testRegistry}/weft-ctrstore`,
        "--base-image",
        baseImage,
        "--json",
      ],
      { env: { WEFT_CONTAINER_HOST: containerHost } },
    );
    assert.equal(result.code, 0, result.stderr);
    const built = JSON.parse(result.stdout) as {
      storage: { image: string };
      labels: string[];
      flows: { flow: string; location: string }[];
    };
    const image = built.storage.image;
    assert.ok(image.startsWith(`${testRegistry}/weft-ctrstore/${imageName}@sha256:`), image);
    assert.deepEqual(built.labels, [], "a pushed image runs on any agent");
    // Podman knows a pushed image by its tag, not by the registry's digest: run it as an agent
    // elsewhere would, after a pull (the container environment pulls what its engine lacks).
    await engine().pull(image);
    const location = built.flows[0]!.location;
    const runner = storageFromJSON(built.storage).getEnvRunner(location);
    const ran = await runInImage(engine(), image, RUNTIME_COMMAND, {
      ...runner.env,
      WEFT_PARAMETERS: JSON.stringify({ name: "cli" }),
    });
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout + ran.stderr, /cli ran in \/opt\/weft-flows/);
  });

  it("a flow file's own container storage is built on serialize", async () => {
    const previous = process.env.WEFT_CONTAINER_HOST;
    process.env.WEFT_CONTAINER_HOST = containerHost;
    try {
      const { containerFlow } = await import("../fixtures/storage/container-flow.ts");
      const json = await serializeFlow(containerFlow, { build: true });
      const storage = json.storage as unknown as { type: string; image: string };
      assert.equal(storage.type, "container");
      assert.match(storage.image, /^localhost\/weft-ctrstore-fixture:[0-9a-f]{32}$/);
      const ran = await runInImage(engine(), storage.image, RUNTIME_COMMAND, {
        WEFT_FLOW_LOCATION: json.location as string,
        WEFT_STORAGE: JSON.stringify(storage),
      });
      assert.equal(ran.code, 0, ran.stderr);
      assert.match(ran.stdout + ran.stderr, /weft ran in \/opt\/weft-flows/);
    } finally {
      if (previous === undefined) delete process.env.WEFT_CONTAINER_HOST;
      else process.env.WEFT_CONTAINER_HOST = previous;
    }
  });
});
