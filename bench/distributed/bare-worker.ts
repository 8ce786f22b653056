// A bare BullMQ worker that returns each job's data: the comparison point of
// the distributed benchmark (what one queue round trip costs without weft).
import { Worker } from "bullmq";
import { Redis } from "ioredis";

const [url = "", prefix = "bull", queue = "bare"] = process.argv.slice(2);
const connection = new Redis(url, { maxRetriesPerRequest: null });
const worker = new Worker(queue, async (job) => job.data, { connection, prefix, concurrency: 8 });
await worker.waitUntilReady();
process.stderr.write("bare worker ready\n");
process.once("SIGTERM", () => {
  void worker
    .close()
    .then(() => connection.quit())
    .then(() => process.exit(0));
});
