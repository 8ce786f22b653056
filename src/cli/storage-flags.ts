import type { Command } from "commander";
import type { Storage } from "../storage/storage.ts";

/** Storage flags shared by `weft build`, `weft inspect` (and later `weft register`). */
export interface StorageFlags {
  storage?: string;
  dir?: string;
  hostnameLabel?: boolean;
  module?: string;
  bucket?: string;
  prefix?: string;
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  repo?: string;
  ref?: string;
  path?: string;
  url?: string;
  authHeader?: string;
  storageName?: string;
}

/** Adds the storage flags to a command. */
export function addStorageFlags(command: Command, required: boolean): Command {
  const kinds = "memory | local | module | s3 | git | http";
  return (
    required
      ? command.requiredOption("-s, --storage <kind>", kinds)
      : command.option("-s, --storage <kind>", kinds)
  )
    .option("--dir <path>", "local: the directory (default $WEFT_HOME/flows)")
    .option("--no-hostname-label", "local: do not label runs with this host's name")
    .option("--module <specifier>", "module: the package or file path, importable where flows run")
    .option("--bucket <name>", "s3: the bucket")
    .option("--prefix <prefix>", "s3: key prefix")
    .option("--endpoint <url>", "s3: endpoint of an S3-compatible store")
    .option("--region <region>", "s3: region")
    .option("--path-style", "s3: path-style addressing (most non-AWS stores)")
    .option("--repo <url>", "git: repository URL or local path")
    .option("--ref <ref>", "git: branch, tag or commit (default HEAD)")
    .option("--path <file>", "git: path of the flow file in the repository")
    .option("--url <url>", "http: base URL of the artifact server")
    .option(
      "--auth-header <env:NAME>",
      "http: Authorization header value, read from an environment variable",
    )
    .option("--storage-name <name>", "a name for the storage, shown to people");
}

/** The storage the flags describe, or undefined without --storage. */
export async function storageFromFlags(flags: StorageFlags): Promise<Storage | undefined> {
  if (flags.storage === undefined) return undefined;
  const { createStorage } = await import("../storage/create-storage.ts");
  const { storage, hostnameLabel, ...rest } = flags as StorageFlags & Record<string, unknown>;
  const options: Record<string, unknown> = {};
  for (const key of [
    "dir",
    "module",
    "bucket",
    "prefix",
    "endpoint",
    "region",
    "pathStyle",
    "repo",
    "ref",
    "path",
    "url",
    "authHeader",
  ]) {
    if (rest[key] !== undefined) options[key] = rest[key];
  }
  if (hostnameLabel === false) options.hostnameLabel = false;
  if (flags.storageName !== undefined) options.name = flags.storageName;
  return createStorage(storage as string, options);
}
