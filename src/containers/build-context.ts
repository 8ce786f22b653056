/**
 * A build context made of files taken from several places on this machine (weft's build, the
 * packages of node_modules, bundles written in memory), streamed to the engine as one tar
 * archive without copying anything to a staging directory first. Entries are sorted and carry
 * no times or owners, so the same files give the same archive and the same content hash.
 */
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, readlinkSync, type Stats } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { WeftError } from "../core/errors.ts";

/** One entry of a build context, by its path in the archive (posix, no leading slash). */
type ContextEntry =
  | {
      readonly kind: "file";
      readonly mode: number;
      readonly source: string;
      /** What the file system says of it when added: size, times, inode (for {@link BuildContext.fingerprint}). */
      readonly stamp: string;
    }
  | { readonly kind: "data"; readonly mode: number; readonly data: Buffer }
  | { readonly kind: "dir" }
  | { readonly kind: "symlink"; readonly target: string };

/** Options of {@link BuildContext.addTree}. */
export interface AddTreeOptions {
  /** Leaves out an entry (and, for a directory, what it holds), by its path relative to the tree. */
  exclude?: (relativePath: string, isDirectory: boolean) => boolean;
}

/** Every archive entry gets this time: times must not change the archive's bytes. */
const FIXED_MTIME = 946684800; // 2000-01-01T00:00:00Z

/**
 * Files for a container build, gathered from anywhere and named by where they go in the
 * context. `hash()` names the content (paths, kinds, executable bits, bytes); `stream()` is the
 * tar archive `ContainerEngine.build` takes.
 */
export class BuildContext {
  private readonly entries = new Map<string, ContextEntry>();

  /** Adds a file with the given content (a Dockerfile, a bundle). */
  addData(path: string, data: string | Buffer, mode = 0o644): this {
    this.put(path, { kind: "data", mode, data: Buffer.from(data) });
    return this;
  }

  /** Adds an empty directory (its parents are implied). */
  addDirectory(path: string): this {
    this.put(path, { kind: "dir" });
    return this;
  }

  /** Adds a symbolic link at `path` pointing at `target` (kept as the link, not its file). */
  addSymlink(path: string, target: string): this {
    this.put(path, { kind: "symlink", target });
    return this;
  }

  /** Adds the file at `source` on this machine as `path`. */
  addFile(path: string, source: string): this {
    const stat = lstatSync(source);
    this.put(path, { kind: "file", mode: stat.mode & 0o777, source, stamp: stampOf(stat) });
    return this;
  }

  /** Adds the directory `dir` and everything under it (links kept as links) as `path`. */
  addTree(path: string, dir: string, options: AddTreeOptions = {}): this {
    this.put(path, { kind: "dir" });
    const walk = (hostDir: string, at: string, relative: string) => {
      for (const name of readdirSync(hostDir).sort()) {
        const source = join(hostDir, name);
        const rel = relative === "" ? name : `${relative}/${name}`;
        const stat = lstatSync(source);
        if (options.exclude?.(rel, stat.isDirectory())) continue;
        const target = `${at}/${name}`;
        if (stat.isDirectory()) {
          this.put(target, { kind: "dir" });
          walk(source, target, rel);
        } else if (stat.isSymbolicLink()) {
          this.put(target, { kind: "symlink", target: readlinkSync(source) });
        } else if (stat.isFile()) {
          this.put(target, { kind: "file", mode: stat.mode & 0o777, source, stamp: stampOf(stat) });
        }
      }
    };
    walk(dir, path, "");
    return this;
  }

  /** Adds every entry of `other` (which stays as it is). */
  include(other: BuildContext): this {
    for (const [path, entry] of other.entries) this.put(path, entry);
    return this;
  }

  /** Whether something was added at `path`. */
  has(path: string): boolean {
    return this.entries.has(path);
  }

  /** SHA-256 (hex) over every entry's path, kind, executable bits and bytes, in sorted order. */
  hash(): string {
    const hash = createHash("sha256");
    for (const [path, entry] of this.sorted()) {
      hash.update(`${path}\0${entry.kind}\0`);
      if (entry.kind === "symlink") hash.update(`${entry.target}\0`);
      if (entry.kind === "file" || entry.kind === "data") {
        hash.update(`${entry.mode & 0o111 ? "x" : "-"}\0`);
        const bytes = entry.kind === "data" ? entry.data : readFileSync(entry.source);
        hash.update(createHash("sha256").update(bytes).digest());
      }
    }
    return hash.digest("hex");
  }

  /**
   * A cheap stand-in for {@link hash}: paths, kinds, modes and, for files taken from disk,
   * where they are and their size, times and inode (as git's index does), without reading
   * them. Equal fingerprints mean equal content unless a file was rewritten within the same
   * millisecond to the same size; a cache of `hash()` keyed by it saves reading every file.
   */
  fingerprint(): string {
    const hash = createHash("sha256");
    for (const [path, entry] of this.sorted()) {
      hash.update(`${path}\0${entry.kind}\0`);
      if (entry.kind === "symlink") hash.update(`${entry.target}\0`);
      if (entry.kind === "file") hash.update(`${entry.mode}\0${entry.source}\0${entry.stamp}\0`);
      if (entry.kind === "data") {
        hash.update(`${entry.mode}\0`);
        hash.update(createHash("sha256").update(entry.data).digest());
      }
    }
    return hash.digest("hex");
  }

  /** The context as a tar archive (ustar, with PAX headers for long names), read lazily. */
  stream(): Readable {
    const entries = this.sorted();
    return Readable.from(
      (function* () {
        for (const [path, entry] of entries) yield* tarEntry(path, entry);
        yield Buffer.alloc(1024);
      })(),
      { objectMode: false },
    );
  }

  private sorted(): [string, ContextEntry][] {
    return [...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  }

  private put(path: string, entry: ContextEntry): void {
    if (path === "" || path.startsWith("/") || path.split("/").includes("..")) {
      throw new WeftError(
        "CONTAINER_BUILD_FAILED",
        `build context path ${JSON.stringify(path)} is not a relative path inside the context`,
      );
    }
    const existing = this.entries.get(path);
    if (existing && !(existing.kind === "dir" && entry.kind === "dir")) {
      throw new WeftError(
        "CONTAINER_BUILD_FAILED",
        `two files want the same place in the build context: ${path}`,
        { hint: "an extra file or package collides with another; rename or remove one" },
      );
    }
    this.entries.set(path, entry);
  }
}

function stampOf(stat: Stats): string {
  return `${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}:${stat.ino}:${stat.dev}`;
}

function* tarEntry(path: string, entry: ContextEntry): Generator<Buffer> {
  const name = entry.kind === "dir" ? `${path}/` : path;
  const body =
    entry.kind === "file"
      ? readFileSync(entry.source)
      : entry.kind === "data"
        ? entry.data
        : Buffer.alloc(0);
  const link = entry.kind === "symlink" ? entry.target : "";
  const pax: string[] = [];
  if (Buffer.byteLength(name) > 100) pax.push(paxRecord("path", name));
  if (Buffer.byteLength(link) > 100) pax.push(paxRecord("linkpath", link));
  if (pax.length > 0) {
    const data = Buffer.from(pax.join(""));
    yield header("PaxHeader", "x", 0o644, data.length, "");
    yield data;
    yield padding(data.length);
  }
  const type = entry.kind === "dir" ? "5" : entry.kind === "symlink" ? "2" : "0";
  const mode = entry.kind === "dir" ? 0o755 : entry.kind === "symlink" ? 0o777 : entry.mode;
  yield header(name, type, mode, body.length, link);
  if (body.length > 0) {
    yield body;
    yield padding(body.length);
  }
}

/** A PAX record: "<length> <key>=<value>\n", where the length counts itself. */
function paxRecord(key: string, value: string): string {
  const rest = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(rest) + 1;
  while (String(length).length + Buffer.byteLength(rest) !== length) length += 1;
  return `${length}${rest}`;
}

function header(name: string, type: string, mode: number, size: number, link: string): Buffer {
  const block = Buffer.alloc(512);
  block.write(truncate(name, 100), 0);
  block.write(`${mode.toString(8).padStart(7, "0")}\0`, 100);
  block.write("0000000\0", 108);
  block.write("0000000\0", 116);
  block.write(`${size.toString(8).padStart(11, "0")}\0`, 124);
  block.write(`${FIXED_MTIME.toString(8).padStart(11, "0")}\0`, 136);
  block.write("        ", 148);
  block.write(type, 156);
  block.write(truncate(link, 100), 157);
  block.write("ustar\0", 257);
  block.write("00", 263);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, "0")}\0 `, 148);
  return block;
}

/** The longest prefix of `text` that fits `bytes` (the PAX record holds the whole of it). */
function truncate(text: string, bytes: number): string {
  let out = text;
  while (Buffer.byteLength(out) > bytes) out = out.slice(0, -1);
  return out;
}

function padding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}
