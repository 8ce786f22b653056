import { createHash } from "node:crypto";
import { serialize } from "node:v8";
import type { Ref } from "../core/graph.ts";
import { isPlainJson } from "../core/json.ts";
import type { ResultBackend } from "../core/results.ts";
import { State } from "../core/states.ts";
import { triggerLabel } from "../core/triggers.ts";

/** One cached result. */
export interface CacheEntry {
  readonly value: unknown;
  readonly createdAt: number;
  readonly expiresAt: number;
  /** Where the entry is persisted, for a cache kept in a result backend. */
  readonly location?: string;
}

/** With `cache: "content"` and no `cacheFor`, an entry lives this long. */
export const CONTENT_CACHE_TTL_MS = 365 * 24 * 3600 * 1000;

/**
 * Results of tasks with `cacheFor` or `cache: "content"`. Kept in this process
 * (shared by its runs), and in the flow's result backend when it has one, so
 * that a cache outlives the process. Keys are the flow name, the task name and
 * the task's cache key.
 */
export class ResultCache {
  private readonly entries = new Map<string, CacheEntry>();

  /**
   * The key of one call of `node` with `args`: the task's cacheKey function,
   * or for `cache: "content"` the hash of the task's code, options and inputs,
   * or else the JSON of the inputs. Throws when the inputs cannot make a key.
   */
  keyFor(flowName: string, node: Ref<unknown>, args: readonly unknown[]): string {
    const options = node.task.options;
    let key: unknown;
    if (options.cacheKey !== undefined)
      key = (options.cacheKey as (...a: unknown[]) => unknown)(...args);
    else if (options.cache === "content") key = contentKey(node, args);
    else key = exactKey(args);
    if (typeof key !== "string") {
      throw new TypeError(
        `cacheKey of task "${node.task.name}" returned ${typeof key}, expected a string`,
      );
    }
    return `${flowName}/${node.task.name}/${key}`;
  }

  /** The live entry under `key` (from this process, else from `backend`), dropping expired ones. */
  get(
    key: string,
    backend?: ResultBackend,
    now = Date.now(),
  ): CacheEntry | undefined | Promise<CacheEntry | undefined> {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      if (entry.expiresAt > now) return entry;
      this.entries.delete(key);
    }
    if (backend === undefined) return undefined;
    const location = cacheLocation(key);
    return backend.exists(location).then(async (found) => {
      if (!found) return undefined;
      const stored = (await backend.read(location)) as {
        createdAt?: unknown;
        expiresAt?: unknown;
        value?: unknown;
      };
      if (
        typeof stored?.expiresAt !== "number" ||
        typeof stored.createdAt !== "number" ||
        stored.expiresAt <= now
      )
        return undefined;
      const hit: CacheEntry = {
        value: stored.value,
        createdAt: stored.createdAt,
        expiresAt: stored.expiresAt,
        location,
      };
      this.entries.set(key, hit);
      return hit;
    });
  }

  /** Keeps `value` under `key` for `ttlMs`, in this process and in `backend` when given. */
  set(
    key: string,
    value: unknown,
    ttlMs: number,
    backend?: ResultBackend,
    now = Date.now(),
  ): void | Promise<void> {
    const entry = { value, createdAt: now, expiresAt: now + ttlMs };
    if (backend === undefined) {
      this.entries.set(key, entry);
      return;
    }
    // Remembered here only once it is persisted: a failed write leaves no entry behind.
    const location = cacheLocation(key);
    return backend.write(entry, location).then(() => {
      this.entries.set(key, { ...entry, location });
    });
  }

  /** Forgets what this process holds (tests). */
  clear(): void {
    this.entries.clear();
  }
}

/** Where a cache entry lives in a result backend. */
export function cacheLocation(key: string): string {
  return `_cache/${createHash("sha256").update(key).digest("hex")}`;
}

/** The hash of a task's code, its options (without functions) and its inputs. */
function contentKey(node: Ref<unknown>, args: readonly unknown[]): string {
  const o = node.task.options;
  const hash = createHash("sha256");
  hash.update(node.task.fn.toString());
  hash.update("\0");
  hash.update(
    JSON.stringify({
      retries: o.retries,
      timeout: o.timeout,
      trigger: triggerLabel(o.trigger),
      cacheFor: o.cacheFor,
      tags: o.tags,
      mapped: node.mapped,
    }),
  );
  hash.update("\0");
  hash.update(exactKey(args));
  return `content:${hash.digest("hex")}`;
}

/**
 * The inputs as a key that tells apart what they hold: their JSON when it says
 * them exactly, else the hash of V8's wire format (two different Maps are both
 * "{}" in JSON, and undefined becomes null).
 */
function exactKey(args: readonly unknown[]): string {
  if (isPlainJson(args)) return JSON.stringify(args);
  return `v8:${createHash("sha256").update(serialize(args)).digest("hex")}`;
}

/** The cache shared by every run in this process. */
export const processCache = new ResultCache();

/** The Cached state of a cache hit (`entry`), or undefined for a miss. */
export function cachedState(
  entry: CacheEntry | undefined,
  key: string,
  startedAt: number,
): State | undefined {
  if (entry === undefined) return undefined;
  const where = entry.location === undefined ? `key ${key}` : `at ${entry.location}`;
  return State.withResult(
    "Cached",
    `cached result from ${new Date(entry.createdAt).toISOString()} (${where})`,
    entry.value,
    startedAt,
    0,
    entry.location,
  );
}
