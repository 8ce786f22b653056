// Build contexts and package closures, with no engine: the archive GNU tar reads back (long
// names, links, modes), the same files giving the same hash whatever their times, and packages
// laid out so that Node finds the same copy of each in the image as here.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { BuildContext } from "../../src/containers/build-context.ts";
import { packageClosure } from "../../src/containers/package-closure.ts";
import { expectCode } from "../support/expect-code.ts";

let root: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), "weft-ctrstore-context-"));
});
after(() => rmSync(root, { recursive: true, force: true }));

function write(path: string, text: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, text);
}

async function extract(context: BuildContext, into: string): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of context.stream()) chunks.push(chunk as Buffer);
  mkdirSync(into, { recursive: true });
  execFileSync("tar", ["-x", "-C", into], { input: Buffer.concat(chunks) });
}

describe("build context", () => {
  it("streams a tar archive that tar reads back: long names, links, executable bits", async () => {
    const tree = join(root, "tree");
    const longName = `${"deep/".repeat(30)}file-with-a-long-name.txt`;
    write(join(tree, longName), "deep");
    write(join(tree, "bin", "run"), "#!/bin/sh\n");
    chmodSync(join(tree, "bin", "run"), 0o755);
    symlinkSync("bin/run", join(tree, "link"));
    const context = new BuildContext()
      .addTree("app", tree)
      .addData("Dockerfile", "FROM scratch\n")
      .addSymlink("app/weft", "/opt/weftflow");
    const out = join(root, "out");
    await extract(context, out);
    assert.equal(readFileSync(join(out, "app", longName), "utf8"), "deep");
    assert.equal(statSync(join(out, "app", "bin", "run")).mode & 0o111, 0o111);
    assert.equal(readlinkSync(join(out, "app", "link")), "bin/run");
    assert.equal(readlinkSync(join(out, "app", "weft")), "/opt/weftflow");
    assert.equal(readFileSync(join(out, "Dockerfile"), "utf8"), "FROM scratch\n");
  });

  it("hashes paths and contents, not times", () => {
    const tree = join(root, "hashed");
    write(join(tree, "a.txt"), "a");
    write(join(tree, "b", "c.txt"), "c");
    const hash = () => new BuildContext().addTree("x", tree).hash();
    const first = hash();
    utimesSync(join(tree, "a.txt"), new Date(0), new Date(0));
    assert.equal(hash(), first, "a new mtime is the same content");
    write(join(tree, "a.txt"), "A");
    assert.notEqual(hash(), first, "new bytes are new content");
    write(join(tree, "a.txt"), "a");
    assert.equal(hash(), first);
    assert.notEqual(new BuildContext().addTree("y", tree).hash(), first, "another path");
  });

  it("fingerprints without reading: the same files keep it, a rewritten one changes it", () => {
    const tree = join(root, "fingerprinted");
    write(join(tree, "a.txt"), "a");
    const fingerprint = () => new BuildContext().addTree("x", tree).fingerprint();
    const first = fingerprint();
    assert.equal(fingerprint(), first);
    utimesSync(join(tree, "a.txt"), new Date(1000), new Date(1000));
    assert.notEqual(fingerprint(), first, "a new mtime may be new content: hash it again");
  });

  it("refuses two files at one place and paths that leave the context", async () => {
    const twice = new BuildContext().addData("a", "1");
    const error = await expectCode(
      () => twice.addData("a", "2"),
      "CONTAINER_BUILD_FAILED",
      "a clash",
    );
    assert.match(error.message, /same place in the build context: a/);
    await expectCode(() => new BuildContext().addData("../x", "1"), "CONTAINER_BUILD_FAILED", "..");
    await expectCode(
      () => new BuildContext().addData("/x", "1"),
      "CONTAINER_BUILD_FAILED",
      "absolute",
    );
  });
});

describe("package closure", () => {
  it("follows dependencies as Node resolves them, nesting a second version where it is needed", () => {
    const project = join(root, "project");
    const pkg = (dir: string, manifest: object) =>
      write(join(dir, "package.json"), JSON.stringify(manifest));
    const nm = join(project, "node_modules");
    pkg(join(nm, "a"), {
      name: "a",
      dependencies: { b: "1", c: "1" },
      optionalDependencies: { gone: "1" },
    });
    pkg(join(nm, "b"), { name: "b", version: "2", dependencies: { c: "1" } });
    pkg(join(nm, "c"), { name: "c", peerDependencies: { weftflow: "*" } });
    pkg(join(nm, "a", "node_modules", "b"), { name: "b", version: "1" });
    pkg(join(nm, "@scope", "d"), { name: "@scope/d", dependencies: { b: "2" } });
    const placed = packageClosure(project, ["a", "@scope/d"], { provided: ["weftflow"] });
    assert.deepEqual(
      placed.map((p) => [
        p.at,
        JSON.parse(readFileSync(join(p.dir, "package.json"), "utf8")).version ?? "",
      ]),
      [
        ["node_modules/@scope/d", ""],
        ["node_modules/a", ""],
        ["node_modules/a/node_modules/b", "1"],
        ["node_modules/b", "2"],
        ["node_modules/c", ""],
      ],
    );
  });

  it("names a package that is not installed and who needs it", async () => {
    const project = join(root, "lacking");
    write(
      join(project, "node_modules", "a", "package.json"),
      JSON.stringify({ name: "a", dependencies: { zzz: "1" } }),
    );
    const error = await expectCode(
      () => packageClosure(project, ["a"], { requiredBy: "the flow" }),
      "CONTAINER_BUILD_FAILED",
      "a missing dependency",
    );
    assert.match(error.message, /package zzz, needed by a, is not installed/);
  });
});
