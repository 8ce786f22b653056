// The local result backend: the conformance suite over a fresh directory per
// backend, then what only files can do wrong (a directory that cannot be
// written, a symbolic link that leads out of the directory).
import assert from "node:assert/strict";
import { chmod, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createLocalResultBackend, resultBackendFromJSON } from "weftflow";
import type { ResultSerializer } from "../../../src/engine/results/result-serializers.ts";
import {
  assertNames,
  expectCode,
  resultContext,
  runResultBackendConformance,
} from "./result-backend.case.ts";

runResultBackendConformance("local", async ({ tmp, template, serializer }) => {
  const directory = join(tmp, "results");
  const open = (s: ResultSerializer | undefined) =>
    createLocalResultBackend({
      directory,
      ...(template === undefined ? {} : { template }),
      ...(s === undefined ? {} : { serializer: s }),
    });
  return {
    backend: open(serializer),
    withSerializer: open,
    async overwrite(location, bytes) {
      await writeFile(join(directory, location), bytes);
    },
    async stored(location) {
      try {
        return (await stat(join(directory, location))).isFile();
      } catch {
        return false;
      }
    },
  };
});

describe("local result backend", () => {
  let root = "";
  before(async () => {
    root = await mkdtemp(join(tmpdir(), "weft-local-results-"));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });
  let n = 0;
  const fresh = () => join(root, `case-${n++}`);

  test("a file where a directory should be fails the write with RESULT_WRITE_FAILED naming the location", async () => {
    const directory = fresh();
    await mkdir(directory, { recursive: true });
    await writeFile(join(directory, "blocked"), "a file, not a directory");
    const backend = createLocalResultBackend({ directory });
    const location = "blocked/extract-1/-/run";
    const error = await expectCode(
      () => backend.write({ n: 1 }, location),
      "RESULT_WRITE_FAILED",
      "file in the way",
    );
    assertNames(error.message, location, directory);
    // The root itself being a file fails the same way.
    const file = fresh();
    await writeFile(file, "not a directory");
    const onFile = createLocalResultBackend({ directory: file });
    const second = await expectCode(
      () => onFile.write(1, resultContext()),
      "RESULT_WRITE_FAILED",
      "root is a file",
    );
    assertNames(second.message, file);
  });

  test("a directory without write permission fails the write with RESULT_WRITE_FAILED", {
    skip:
      process.getuid?.() === 0
        ? "running as root, which writes through any permission bits"
        : false,
  }, async () => {
    const directory = fresh();
    await mkdir(directory, { recursive: true });
    await chmod(directory, 0o500);
    try {
      const backend = createLocalResultBackend({ directory });
      const error = await expectCode(
        () => backend.write(1, "read-only/x"),
        "RESULT_WRITE_FAILED",
        "read-only directory",
      );
      assertNames(error.message, "read-only/x", directory);
    } finally {
      await chmod(directory, 0o700);
    }
  });

  test("a symbolic link inside the directory that leads outside is refused on read", async () => {
    const directory = fresh();
    const outside = fresh();
    await mkdir(join(directory, "flow"), { recursive: true });
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, "secret.json"), JSON.stringify({ secret: true }));
    // A link to a file outside, and a link to a directory outside.
    await symlink(join(outside, "secret.json"), join(directory, "flow", "file-link"));
    await symlink(outside, join(directory, "dir-link"));
    const backend = createLocalResultBackend({ directory });
    for (const location of ["flow/file-link", "dir-link/secret.json"]) {
      const error = await expectCode(
        () => backend.read(location),
        "RESULT_LOCATION_ESCAPE",
        location,
      );
      assertNames(error.message, location, directory);
    }
    // exists() does not look through them either.
    for (const location of ["flow/file-link", "dir-link/secret.json"]) {
      await expectCode(() => backend.exists(location), "RESULT_LOCATION_ESCAPE", location);
    }
    // A link that stays inside is fine.
    await backend.write({ inside: true }, "flow/real");
    await symlink(join(directory, "flow", "real"), join(directory, "flow", "inner-link"));
    assert.deepEqual(await backend.read("flow/inner-link"), { inside: true });
  });

  test("a write through a linked directory that leads outside is refused and creates nothing there", async () => {
    const directory = fresh();
    const outside = fresh();
    await mkdir(directory, { recursive: true });
    await mkdir(outside, { recursive: true });
    await symlink(outside, join(directory, "flow"));
    const backend = createLocalResultBackend({ directory });
    for (const location of ["flow/x", "flow/deeper/still/x"]) {
      const error = await expectCode(
        () => backend.write({ pwned: true }, location),
        "RESULT_LOCATION_ESCAPE",
        location,
      );
      assertNames(error.message, location, directory);
    }
    assert.deepEqual(await readdir(outside), [], "nothing was written or created outside");
    // The rendered location of a flow named like the link goes through it too, and is refused.
    await expectCode(
      () => backend.write(1, resultContext({ flowName: "flow" })),
      "RESULT_LOCATION_ESCAPE",
      "rendered",
    );
    // A linked directory that stays inside is written through.
    await mkdir(join(directory, "real"));
    await symlink(join(directory, "real"), join(directory, "alias"));
    await backend.write(2, "alias/y");
    assert.equal(await backend.read("real/y"), 2);
  });

  test("the directory is resolved to an absolute path and kept in the JSON", async () => {
    const previous = process.cwd();
    const directory = fresh();
    await mkdir(directory, { recursive: true });
    process.chdir(directory);
    try {
      const backend = createLocalResultBackend({ directory: "relative", serializer: "binary" });
      assert.equal(backend.name, join(directory, "relative"));
      assert.deepEqual(backend.toJSON(), {
        type: "local",
        schemaVersion: 1,
        directory: join(directory, "relative"),
        template: "{flowSlug}/{taskSlug}/{mapIndex}/{flowRunId}",
        serializer: "binary",
      });
      assert.deepEqual(resultBackendFromJSON(backend.toJSON()).toJSON(), backend.toJSON());
    } finally {
      process.chdir(previous);
    }
  });

  test("malformed JSON is refused naming the field", async () => {
    await expectCode(
      () => resultBackendFromJSON({ type: "local", schemaVersion: 1, directory: "/tmp/x" }),
      "INVALID_SERIALIZED",
      "no template",
    );
    const unknown = await expectCode(
      () => resultBackendFromJSON({ type: "ftp", schemaVersion: 1 }),
      "UNKNOWN_TYPE",
      "unknown type",
    );
    assertNames(unknown.message, "local", "s3");
  });
});
