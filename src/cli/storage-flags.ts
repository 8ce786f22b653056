// The storage flags of `weft run`, `build`, `inspect` and `register`, derived
// from every storage kind's descriptor (src/storage/<kind>-storage.ts): its
// flags and their help, and its constructor from them. The descriptors import
// zod and the storages, which `weft --version` must not load (start-up is
// measured), so a command only marks itself here and `main` adds the flags
// before parsing, when the command line names such a command.
import type { Command } from "commander";
import type { Storage } from "../storage/storage.ts";

/** Storage flags shared by `weft build`, `weft inspect`, `weft run` and `weft register`. */
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
  imageName?: string;
  registry?: string;
  baseImage?: string;
  imagePlatform?: string;
  packageDependencies?: boolean;
  storageName?: string;
}

/** Commands that take the storage flags: whether `--storage` is required. */
const storageCommands = new WeakMap<Command, boolean>();

/** Marks a command as taking the storage flags (added by {@link addStorageFlagsFor}). */
export function addStorageFlags(command: Command, required: boolean): Command {
  storageCommands.set(command, required);
  return command;
}

/**
 * Adds the storage flags to the commands of `program` that take them and that
 * `argv` names (`weft run …`, `weft help build`), from the storage registry.
 */
export async function addStorageFlagsFor(program: Command, argv: readonly string[]): Promise<void> {
  const commands = program.commands.filter(
    (c) =>
      storageCommands.has(c) &&
      !c.options.some((o) => o.long === "--storage") &&
      [c.name(), ...c.aliases()].some((name) => argv.includes(name)),
  );
  if (commands.length === 0) return;
  const { storageRegistry } = await import("../storage/registry.ts");
  const types = storageRegistry.types();
  const all = storageRegistry.flags();
  for (const command of commands) {
    const kinds = types.join(" | ");
    if (storageCommands.get(command)) command.requiredOption("-s, --storage <kind>", kinds);
    else command.option("-s, --storage <kind>", kinds);
    const seen = new Set<string>();
    const shared: string[] = [];
    for (const [type, , flag] of all) {
      if (seen.has(flag.flag)) continue;
      seen.add(flag.flag);
      // A flag several kinds take (--storage-name) is shown last, without a kind in front.
      const owners = new Set(all.filter(([, , f]) => f.flag === flag.flag).map(([t]) => t));
      if (owners.size > 1) shared.push(flag.flag);
      else command.option(flag.flag, `${type}: ${flag.help}`);
    }
    for (const spelling of shared) {
      const flag = all.find(([, , f]) => f.flag === spelling)![2];
      command.option(flag.flag, flag.help);
    }
  }
}

/** The storage the flags describe, or undefined without --storage. */
export async function storageFromFlags(flags: StorageFlags): Promise<Storage | undefined> {
  if (flags.storage === undefined) return undefined;
  const [{ storageRegistry }, { flagKey, flagValue }] = await Promise.all([
    import("../storage/registry.ts"),
    import("../serialization/registry.ts"),
  ]);
  const given = flags as StorageFlags & Record<string, unknown>;
  const options: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (const [, key, flag] of storageRegistry.flags()) {
    if (seen.has(key)) continue;
    seen.add(key);
    const value = given[flagKey(flag)];
    // A negated switch (--no-hostname-label) is true unless given: only its `false` says something.
    if (value === undefined || (flagValue(flag) === false && value !== false)) continue;
    options[key] = value;
  }
  return storageRegistry.fromFlags(flags.storage, options);
}
