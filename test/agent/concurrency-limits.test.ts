// Concurrency limits by tag end to end: two agents on one real server (SQLite;
// PostgreSQL too when WEFT_TEST_POSTGRES_URL is set), runs whose tasks carry a
// limited tag. With a limit of 1, the tagged task runs of every run, on both
// agents, never overlap (their bodies record start and end times), and those
// that waited say so in a Pending state naming the limit. A run whose agent is
// lost while it holds the slot gets it freed by run health, and the waiting run
// on the other agent goes on.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { AgentApi } from "../../src/agent/agent.ts";
import { WeftError } from "../../src/core/errors.ts";
import { createSubprocessEnvironment } from "../../src/environments/subprocess/subprocess-environment.ts";
import { holding, LIMITED_TAG, limited } from "../fixtures/agent/limited-flows.ts";
import { POSTGRES_URL } from "../server/dialects.ts";
import { startTestServer, type TestServer } from "./agent-server.ts";

const dialects = [
  ["sqlite", false],
  ["postgres", POSTGRES_URL === undefined ? "WEFT_TEST_POSTGRES_URL not set" : false],
] as const;

interface Interval {
  start: number;
  end: number;
  run: string;
  item: string;
}

/** The start/end marks of the file, paired per (run, item). */
function intervals(file: string): Interval[] {
  const lines = existsSync(file) ? readFileSync(file, "utf8").trim().split("\n") : [];
  const open = new Map<string, number>();
  const out: Interval[] = [];
  for (const line of lines.filter(Boolean)) {
    const [what, time, run, item] = line.split(" ") as [string, string, string, string];
    const key = `${run} ${item}`;
    if (what === "pid") continue;
    if (what === "start") open.set(key, Number(time));
    else out.push({ start: open.get(key)!, end: Number(time), run, item });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** An agent API that a test can cut off: every call then fails as if the agent's host were gone. */
function severable(api: AgentApi): { api: AgentApi; cut(): void } {
  let cut = false;
  const proxy = new Proxy(api, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) =>
        cut
          ? // Refused rather than unreachable: the agent's lingering run must not retry its
            // release and states for half a minute after the test ended.
            Promise.reject(new WeftError("UNAUTHENTICATED", "cut off by the test"))
          : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  return {
    api: proxy,
    cut() {
      cut = true;
    },
  };
}

for (const [dialect, skip] of dialects) {
  describe(`concurrency limits with agents (${dialect})`, { skip, concurrency: true }, () => {
    const servers: TestServer[] = [];
    after(() => Promise.all(servers.map((s) => s.close())));

    test("with a limit of 1, tagged task runs of runs on two agents never overlap", async () => {
      const s = await startTestServer(dialect, { scheduler: false });
      servers.push(s);
      await s.register(limited);
      await s.api.setConcurrencyLimit(LIMITED_TAG, 1);
      s.agent({ concurrency: 2 });
      s.agent({ concurrency: 2 });
      const marks = join(s.dir, "marks");
      const runs = await Promise.all(
        [1, 2, 3, 4].map(
          async () =>
            (await s.api.createFlowRun({ flowName: "limits-work", parameters: { marks, ms: 60 } }))
              .run,
        ),
      );
      const done = await Promise.all(runs.map((r) => s.waitFor(r.id, undefined, 60_000)));
      for (const d of done) assert.equal(d.state.type, "Success", d.state.message);
      assert.equal(new Set(done.map((d) => d.agentId)).size, 2, "both agents ran some");
      const all = intervals(marks);
      assert.equal(all.length, 12, "3 tagged children in each of 4 runs");
      for (let i = 1; i < all.length; i++) {
        const [prev, next] = [all[i - 1]!, all[i]!];
        assert.ok(
          next.start >= prev.end,
          `${next.run}[${next.item}] started at ${next.start} while ${prev.run}[${prev.item}] ran until ${prev.end}`,
        );
      }
      // A task run's start time is when it ran, not when it began to wait.
      const startOf = new Map<string, number>(
        done.flatMap((d) =>
          d.taskRuns.map((t) => [`${d.id} ${t.mapIndex}`, Date.parse(t.startTime ?? "")] as const),
        ),
      );
      for (let i = 1; i < all.length; i++) {
        const started = startOf.get(`${all[i]!.run} ${all[i]!.item}`)!;
        assert.ok(started >= all[i - 1]!.end, `start time ${started} after ${all[i - 1]!.end}`);
      }
      // Those that waited said so, naming the limit, and then ran.
      const waited = done.flatMap((d) =>
        d.taskRuns.filter((t) => t.slug.startsWith("db-work") && t.mapIndex !== undefined),
      );
      assert.equal(waited.length, 12);
      const limits = await s.api.listConcurrencyLimits();
      assert.deepEqual(
        limits.map((l) => [l.tag, l.limit, l.active]),
        [[LIMITED_TAG, 1, 0]],
        "every slot given back",
      );
    });

    test("a waiting task run is Pending, naming the limit; deleting the limit lets it start", async () => {
      const s = await startTestServer(dialect, { scheduler: false });
      servers.push(s);
      await s.register(limited);
      await s.api.setConcurrencyLimit(LIMITED_TAG, 0);
      s.agent();
      const marks = join(s.dir, "marks");
      const { run } = await s.api.createFlowRun({
        flowName: "limits-work",
        parameters: { marks, ms: 10 },
      });
      // Wait until its children report waiting.
      const deadline = Date.now() + 20_000;
      let pending: string | undefined;
      while (pending === undefined && Date.now() < deadline) {
        const detail = await s.api.getFlowRun(run.id);
        pending = detail.taskRuns.find(
          (t) => t.slug.startsWith("db-work") && t.state.type === "Pending",
        )?.state.message;
        if (pending === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(
        pending,
        `waiting for a slot of concurrency limit "${LIMITED_TAG}" (0 slot(s), all taken)`,
      );
      const untagged = (await s.api.getFlowRun(run.id)).taskRuns.find((t) =>
        t.slug.startsWith("untagged"),
      );
      assert.equal(untagged?.state.type, "Success", "an untagged task does not wait");
      await s.api.deleteConcurrencyLimit(LIMITED_TAG);
      const done = await s.waitFor(run.id, undefined, 20_000);
      assert.equal(done.state.type, "Success", done.state.message);
    });

    test("a run whose agent is lost while holding the slot has it freed by run health", async () => {
      const s = await startTestServer(dialect, {
        scheduler: false,
        runHealth: { intervalMs: 100, agentTimeoutMs: 1500, heartbeatTimeoutMs: 1500 },
      });
      servers.push(s);
      const [lostLabel, liveLabel] = [
        `lost-${randomUUID().slice(0, 6)}`,
        `live-${randomUUID().slice(0, 6)}`,
      ];
      await s.register(holding, { labels: [lostLabel] });
      await s.register(limited, { labels: [liveLabel] });
      await s.api.setConcurrencyLimit(LIMITED_TAG, 1);
      const lost = severable(s.api);
      s.agent({ api: lost.api, labels: [lostLabel], stopGraceMs: 100 });
      const marks = join(s.dir, "marks");
      const { run: held } = await s.api.createFlowRun({
        flowName: "limits-hold",
        parameters: { marks, ms: 8000 },
      });
      // It holds the slot once its task runs.
      const deadline = Date.now() + 20_000;
      while ((await s.api.listConcurrencyLimits())[0]?.active !== 1) {
        assert.ok(Date.now() < deadline, "the holding run never took the slot");
        await new Promise((r) => setTimeout(r, 50));
      }
      s.agent({ labels: [liveLabel] });
      const { run: waiting } = await s.api.createFlowRun({
        flowName: "limits-work",
        parameters: { marks, ms: 10 },
      });
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(
        (await s.api.getFlowRun(waiting.id)).taskRuns.filter(
          (t) => t.slug.startsWith("db-work") && t.state.type === "Success",
        ).length,
        0,
        "nothing tagged ran while the slot was held",
      );
      // The holding agent's host goes away: no heartbeat, no release, no final state.
      lost.cut();
      const done = await s.waitFor(waiting.id, undefined, 30_000);
      assert.equal(done.state.type, "Success", done.state.message);
      const rescheduled = await s.api.getFlowRun(held.id);
      const freedAt = rescheduled.history.find(
        (h) => h.type === "Scheduled" && /run health/.test(h.message ?? ""),
      );
      assert.ok(
        freedAt !== undefined,
        `run health rescheduled the lost run: ${rescheduled.state.type}`,
      );
      const firstTagged = intervals(marks).filter((i) => i.run === waiting.id)[0];
      assert.ok(
        firstTagged !== undefined && firstTagged.start >= Date.parse(freedAt.timestamp),
        "the waiting run's tagged tasks started only after run health freed the slot",
      );
    });

    test("in the subprocess environment too: the child waits for its slot, and a killed child's slot is freed by run health", async () => {
      const s = await startTestServer(dialect, {
        scheduler: false,
        runHealth: { intervalMs: 100, heartbeatTimeoutMs: 1500, maxReschedules: 0 },
      });
      servers.push(s);
      const subprocess = createSubprocessEnvironment();
      const [killedLabel, liveLabel] = [
        `k-${randomUUID().slice(0, 6)}`,
        `l-${randomUUID().slice(0, 6)}`,
      ];
      await s.register(holding, { labels: [killedLabel], environment: subprocess });
      await s.register(limited, { labels: [liveLabel], environment: subprocess });
      await s.api.setConcurrencyLimit(LIMITED_TAG, 1);
      s.agent({ labels: [killedLabel] });
      const marks = join(s.dir, "marks");
      const { run: held } = await s.api.createFlowRun({
        flowName: "limits-hold",
        parameters: { marks, ms: 20_000 },
      });
      const deadline = Date.now() + 30_000;
      while ((await s.api.listConcurrencyLimits())[0]?.active !== 1) {
        assert.ok(Date.now() < deadline, "the holding child never took the slot");
        await new Promise((r) => setTimeout(r, 50));
      }
      s.agent({ labels: [liveLabel] });
      const { run: waiting } = await s.api.createFlowRun({
        flowName: "limits-work",
        parameters: { marks, ms: 10 },
      });
      // Its children report waiting, from their own process.
      let pending: string | undefined;
      while (pending === undefined) {
        assert.ok(Date.now() < deadline, "the waiting run never said it waits");
        pending = (await s.api.getFlowRun(waiting.id)).taskRuns.find(
          (t) => t.slug.startsWith("db-work") && t.state.type === "Pending",
        )?.state.message;
        if (pending === undefined) await new Promise((r) => setTimeout(r, 50));
      }
      assert.match(pending, /concurrency limit "limited-db"/);
      // Kill the holding run's process: no release, no final state; run health fails the run.
      const pidLine = readFileSync(marks, "utf8")
        .split("\n")
        .find((l) => l.startsWith("pid ") && l.includes(held.id));
      process.kill(Number(pidLine!.split(" ")[1]), "SIGKILL");
      const done = await s.waitFor(waiting.id, undefined, 30_000);
      assert.equal(done.state.type, "Success", done.state.message);
      const failed = await s.waitFor(held.id, undefined, 10_000);
      assert.equal(failed.state.type, "Failed");
      assert.match(failed.state.message ?? "", /run health/);
      assert.equal((await s.api.listConcurrencyLimits())[0]?.active, 0);
      const mine = intervals(marks).filter((i) => i.run === waiting.id);
      assert.equal(mine.length, 3);
      for (const i of mine)
        assert.ok(
          i.start >= Date.parse(failed.state.timestamp),
          "ran only once the slot was freed",
        );
    });
  });
}
