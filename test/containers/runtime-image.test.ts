// The runtime image against a real engine: weft and its dependency closure at /opt/weftflow,
// tagged by content (the same content is not built again), and a base image that does not
// exist named in the error.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ContainerEngine } from "../../src/containers/engine.ts";
import {
  ensureRuntimeImage,
  RUNTIME_COMMAND,
  RUNTIME_REPOSITORY,
} from "../../src/containers/runtime-image.ts";
import { packageVersion } from "../../src/core/package.ts";
import { runInImage } from "../support/container-run.ts";
import { baseImage, containerHost, noContainerEngine } from "../support/containers.ts";
import { expectCode } from "../support/expect-code.ts";

describe("runtime image", { skip: noContainerEngine }, () => {
  const engine = () => new ContainerEngine(containerHost);

  it("holds weft and its dependencies, runs weft, and is not built twice", async () => {
    const tag = await ensureRuntimeImage(engine(), { baseImage });
    assert.match(tag, new RegExp(`^${RUNTIME_REPOSITORY}:[0-9a-f]{32}$`));
    const first = await engine().inspectImage(tag);
    assert.ok(first, `${tag} should be on the engine`);

    const version = await runInImage(engine(), tag, [
      "node",
      "/opt/weftflow/bin/weft.js",
      "--version",
    ]);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, new RegExp(packageVersion().replaceAll(".", "\\.")));
    assert.deepEqual(RUNTIME_COMMAND.slice(0, 2), ["node", "/opt/weftflow/bin/weft.js"]);

    // The production dependencies resolve and load inside the image (a native addon included).
    const load = await runInImage(engine(), tag, [
      "node",
      "--input-type=module",
      "-e",
      "const m = await import('/opt/weftflow/dist/index.js'); const { createRequire } = await import('node:module'); const r = createRequire('/opt/weftflow/dist/index.js'); const Db = r('better-sqlite3'); new Db(':memory:').close(); r('dockerode'); r('@aws-sdk/client-s3'); console.log(typeof m.flow)",
    ]);
    assert.equal(load.code, 0, load.stderr);
    assert.equal(load.stdout.trim(), "function");

    // Same content, same tag: the image found is the one built, not a new build.
    const again = await ensureRuntimeImage(engine(), { baseImage });
    assert.equal(again, tag);
    assert.equal((await engine().inspectImage(again))?.id, first.id);
  });

  it("names a base image that no engine or registry has", async () => {
    const missing = "127.0.0.1:1/weft-ctrstore/no-base:1";
    const error = await expectCode(
      () => ensureRuntimeImage(engine(), { baseImage: missing }),
      "IMAGE_NOT_FOUND",
      "a missing base image",
    );
    assert.match(error.message, /127\.0\.0\.1:1\/weft-ctrstore\/no-base:1/);
  });
});
