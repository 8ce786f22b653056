// The container engine client against a real engine (Podman's Docker API service in CI): errors
// that name the host, image and step; build, push to a loopback registry, pull back.
import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { ContainerEngine, parseContainerHost } from "../../src/containers/engine.ts";
import {
  baseImage,
  containerHost,
  noContainerEngine,
  noRegistry,
  testRegistry,
} from "../support/containers.ts";
import { expectCode } from "../support/expect-code.ts";

/** A tar archive of { name: content } files (ustar, enough for a build context). */
function tarOf(files: Record<string, string>): Readable {
  const blocks: Buffer[] = [];
  for (const [name, content] of Object.entries(files)) {
    const body = Buffer.from(content);
    const header = Buffer.alloc(512);
    header.write(name, 0);
    header.write("0000644\0", 100);
    header.write("0000000\0", 108);
    header.write("0000000\0", 116);
    header.write(`${body.length.toString(8).padStart(11, "0")}\0`, 124);
    header.write(
      `${Math.floor(Date.now() / 1000)
        .toString(8)
        .padStart(11, "0")}\0`,
      136,
    );
    header.write("        ", 148);
    header.write("0", 156);
    header.write("ustar\0", 257);
    header.write("00", 263);
    let sum = 0;
    for (const byte of header) sum += byte;
    header.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Readable.from([Buffer.concat(blocks)]);
}

describe("container engine address", () => {
  it("takes unix sockets, bare paths and tcp, and refuses anything else naming it", async () => {
    assert.deepEqual(parseContainerHost("unix:///run/x.sock"), { socketPath: "/run/x.sock" });
    assert.deepEqual(parseContainerHost("/run/x.sock"), { socketPath: "/run/x.sock" });
    assert.deepEqual(parseContainerHost("tcp://10.0.0.1:2375"), {
      protocol: "http",
      host: "10.0.0.1",
      port: 2375,
    });
    const error = await expectCode(
      () => parseContainerHost("ssh://box"),
      "INVALID_ARGUMENT",
      "an ssh host",
    );
    assert.match(error.message, /ssh:\/\/box/);
  });

  it("says which engine did not answer", async () => {
    const engine = new ContainerEngine("unix:///nonexistent/weft-test.sock");
    const error = await expectCode(
      () => engine.ping(),
      "CONTAINER_ENGINE_UNREACHABLE",
      "a missing socket",
    );
    assert.match(error.message, /nonexistent\/weft-test\.sock/);
  });
});

describe("container engine", { skip: noContainerEngine }, () => {
  const engine = () => new ContainerEngine(containerHost);

  it("answers a ping and knows the base image", async () => {
    await engine().ping();
    assert.ok(await engine().inspectImage(baseImage), `${baseImage} should be on the engine`);
    assert.equal(await engine().inspectImage("localhost/weft-no-such-image:0"), undefined);
  });

  it("names the failed step and shows the build's output", async () => {
    const context = tarOf({
      Dockerfile: `FROM ${baseImage}\nRUN node -e "console.log('step output'); process.exit(7)"\n`,
    });
    const error = await expectCode(
      () => engine().build(context, { tag: "localhost/weft-test-broken:1" }),
      "CONTAINER_BUILD_FAILED",
      "a failing RUN step",
    );
    assert.match(error.message, /RUN node -e[\s\S]*step output/);
  });

  it("refuses an image no registry has, naming it", async () => {
    const error = await expectCode(
      () => engine().pull("127.0.0.1:1/weft/nothing:1"),
      "IMAGE_NOT_FOUND",
      "an unreachable registry",
    );
    assert.match(error.message, /127\.0\.0\.1:1\/weft\/nothing:1/);
  });

  it("builds, pushes to the registry and pulls back", { skip: noRegistry }, async () => {
    const tag = `${testRegistry}/weft-test/engine:${process.pid}`;
    const context = tarOf({
      Dockerfile: `FROM ${baseImage}\nCOPY hello.txt /hello.txt\n`,
      "hello.txt": `hi ${process.pid}\n`,
    });
    const id = await engine().build(context, { tag, labels: { "io.weftflow.test": "1" } });
    assert.match(id, /^(sha256:)?[0-9a-f]{64}$/);
    const digest = await engine().push(tag);
    assert.match(digest ?? "", /^sha256:[0-9a-f]{64}$/);
    await engine().docker.getImage(tag).remove({ force: true });
    assert.equal(await engine().inspectImage(tag), undefined);
    await engine().pull(tag);
    assert.ok(await engine().inspectImage(tag));
    await engine().docker.getImage(tag).remove({ force: true });
  });
});
