import type { Ref } from "../core/graph.ts";

/** One cached result. */
export interface CacheEntry {
  readonly value: unknown;
  readonly createdAt: number;
  readonly expiresAt: number;
}

/**
 * Results of tasks with `cacheFor`, kept in this process and shared by its runs.
 * Keys are the flow name, the task name and the task's cache key (by default the
 * JSON of its inputs). Persisted caches come with result backends.
 */
export class ResultCache {
  private readonly entries = new Map<string, CacheEntry>();

  /** The key of one call of `node` with `args`. Throws when the inputs cannot be turned into a key. */
  keyFor(flowName: string, node: Ref<unknown>, args: readonly unknown[]): string {
    const custom = node.task.options.cacheKey;
    const key =
      custom === undefined
        ? JSON.stringify(args)
        : (custom as (...a: unknown[]) => unknown)(...args);
    if (typeof key !== "string") {
      throw new TypeError(
        `cacheKey of task "${node.task.name}" returned ${typeof key}, expected a string`,
      );
    }
    return `${flowName}/${node.task.name}/${key}`;
  }

  /** The live entry under `key`, dropping it when expired. */
  get(key: string, now = Date.now()): CacheEntry | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  set(key: string, value: unknown, ttlMs: number, now = Date.now()): void {
    this.entries.set(key, { value, createdAt: now, expiresAt: now + ttlMs });
  }

  /** Forgets everything (tests). */
  clear(): void {
    this.entries.clear();
  }
}

/** The cache shared by every run in this process. */
export const processCache = new ResultCache();
