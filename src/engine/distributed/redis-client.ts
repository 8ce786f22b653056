import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "ioredis";
import { WeftError } from "../../core/errors.ts";
import {
  redisAddress,
  type WorkerInfo,
  workerInfoKey,
  workerInfoSchema,
  workersKey,
} from "./distributed-protocol.ts";
import { loadIoredis } from "./queue-modules.ts";

/** How hard {@link connectRedis} tries before giving up. */
export interface ConnectRedisOptions {
  /** Connection attempts. @default 4 */
  attempts?: number;
  /** Each attempt's limit in ms. @default 2000 */
  timeoutMs?: number;
  /** Who connects, for the message ("the distributed executor"). */
  who?: string;
}

/**
 * A connected ioredis client for BullMQ (`maxRetriesPerRequest: null`, as its
 * blocking connections require), after bounded attempts; else REDIS_UNREACHABLE
 * naming the address (never the password). Once connected, a dropped connection
 * is retried with back-off; callers bound how long they wait on it.
 */
export async function connectRedis(url: string, options: ConnectRedisOptions = {}): Promise<Redis> {
  const attempts = options.attempts ?? 4;
  const timeoutMs = options.timeoutMs ?? 2000;
  const address = redisAddress(url);
  const { Redis } = await loadIoredis();
  let last: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let client: Redis;
    try {
      client = new Redis(url, {
        lazyConnect: true,
        maxRetriesPerRequest: null,
        connectTimeout: timeoutMs,
        enableOfflineQueue: true,
        retryStrategy: () => null,
      });
    } catch (error) {
      throw new WeftError(
        "REDIS_UNREACHABLE",
        `${address} is not a Redis URL: ${(error as Error).message}`,
        {
          hint: "a Redis URL looks like redis://host:6379 (or rediss:// for TLS)",
        },
      );
    }
    client.on("error", (error: Error) => {
      last = error;
    });
    try {
      await withTimeout(
        client.connect().then(() => client.ping()),
        timeoutMs,
        `no answer within ${timeoutMs} ms`,
      );
      client.options.retryStrategy = (times: number) => Math.min(times * 200, 2000);
      return client;
    } catch (error) {
      last = error;
      client.disconnect();
      if (attempt < attempts) await sleep(200 * attempt);
    }
  }
  const why = last instanceof Error ? last.message : String(last);
  throw new WeftError(
    "REDIS_UNREACHABLE",
    `${options.who ?? "weft"} cannot reach Redis at ${address} after ${attempts} attempt${attempts === 1 ? "" : "s"}: ${why}`,
    { hint: "check that Redis runs there and that --redis / WEFT_REDIS_URL points at it" },
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

/** Closes a client politely, or drops it when Redis is gone. Never throws. */
export async function closeRedis(client: Redis | undefined): Promise<void> {
  if (client === undefined || client.status === "end") return;
  try {
    await withTimeout(client.quit(), 1000, "quit timed out");
  } catch {
    client.disconnect();
  }
}

/** The live workers registered under `prefix` (expired ones are dropped on the way). */
export async function readLiveWorkers(client: Redis, prefix: string): Promise<WorkerInfo[]> {
  const now = Date.now();
  const key = workersKey(prefix);
  await client.zremrangebyscore(key, "-inf", now);
  const names = await client.zrangebyscore(key, now, "+inf");
  if (names.length === 0) return [];
  const records = await client.mget(...names.map((name) => workerInfoKey(prefix, name)));
  const workers: WorkerInfo[] = [];
  for (const text of records) {
    if (text === null) continue;
    try {
      const parsed = workerInfoSchema.safeParse(JSON.parse(text));
      if (parsed.success) workers.push(parsed.data);
    } catch {
      // A malformed record is no live worker.
    }
  }
  return workers;
}
