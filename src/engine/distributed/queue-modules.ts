// BullMQ and ioredis are loaded on first use, not at import: every flow run and
// every `weft` command imports the executors and environments, and only
// distributed runs and workers need the queue (loading it costs ~0.5 s).
import type * as BullMQ from "bullmq";
import type * as IORedis from "ioredis";

let bullmq: Promise<typeof BullMQ> | undefined;
let ioredis: Promise<typeof IORedis> | undefined;

/** The `bullmq` module, loaded once. */
export function loadBullmq(): Promise<typeof BullMQ> {
  bullmq ??= import("bullmq");
  return bullmq;
}

/** The `ioredis` module, loaded once. */
export function loadIoredis(): Promise<typeof IORedis> {
  ioredis ??= import("ioredis");
  return ioredis;
}
