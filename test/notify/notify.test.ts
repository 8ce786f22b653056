// notify.webhook and notify.slack against a real HTTP server on loopback.
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { flow, notify, task, type WebhookPayload } from "../../src/index.ts";
import { RecordingReporter } from "../fixtures/engine/recording-reporter.ts";
import { expectCode } from "../support/expect-code.ts";

const unique = (label: string) => `${label}-${randomUUID()}`;

interface Received {
  readonly path: string;
  readonly headers: IncomingMessage["headers"];
  readonly body: unknown;
}

/** A loopback server: `answer(path, n)` picks each request's status (n counts requests per path); 0 never answers. */
class HookServer {
  readonly received: Received[] = [];
  private readonly counts = new Map<string, number>();
  private readonly hanging: ServerResponse[] = [];
  private server: Server | undefined;
  answer: (path: string, n: number) => number = () => 200;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const path = req.url ?? "/";
        const n = (this.counts.get(path) ?? 0) + 1;
        this.counts.set(path, n);
        this.received.push({
          path,
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
        });
        const status = this.answer(path, n);
        if (status === 0) {
          this.hanging.push(res);
          return;
        }
        res.writeHead(status).end("ok");
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
  }

  url(path: string): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}${path}`;
  }

  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

describe("notify", () => {
  const hooks = new HookServer();
  before(() => hooks.start());
  after(() => hooks.stop());

  test("webhook posts JSON on the states in `on` (with subtypes), headers read from env: when sending", async () => {
    process.env.WEFT_TEST_HOOK_TOKEN = "Bearer s3cr3t-from-env";
    const hook = notify.webhook(hooks.url("/failed"), {
      on: ["Failed"],
      headers: { Authorization: "env:WEFT_TEST_HOOK_TOKEN", "X-Team": "data" },
    });
    const broken = task(
      "broken",
      (): number => {
        throw new Error("database down");
      },
      { onStateChange: [hook] },
    );
    const after = task("after", (x: number) => x, { onStateChange: [hook] });
    const fine = task("fine", () => 1, { onStateChange: [hook] });
    const f = flow(unique("webhook"), () => [after(broken()), fine()]);
    const run = await f.run();
    const got = hooks.at("/failed");
    // broken-1 Failed and after-1 TriggerFailed (a kind of Failed); nothing for fine-1.
    assert.equal(got.length, 2);
    const bodies = got
      .map((r) => r.body as WebhookPayload)
      .sort((a, b) => (a.task ?? "").localeCompare(b.task ?? ""));
    assert.equal(bodies[0]!.task, "after-1");
    assert.equal(bodies[0]!.newState, "TriggerFailed");
    const failed = bodies[1]!;
    assert.deepEqual(
      { ...failed, time: undefined },
      {
        flow: f.name,
        runId: run.id,
        task: "broken-1",
        taskName: "broken",
        mapIndex: null,
        oldState: "Running",
        newState: "Failed",
        message: "database down",
        time: undefined,
      },
    );
    assert.ok(!Number.isNaN(Date.parse(failed.time)));
    assert.equal(got[0]!.headers.authorization, "Bearer s3cr3t-from-env");
    assert.equal(got[0]!.headers["x-team"], "data");
    assert.equal(got[0]!.headers["content-type"], "application/json");
  });

  test("a mapped child and a flow notify too", async () => {
    const hook = notify.webhook(hooks.url("/mapped"), { on: ["Success"] });
    const inc = task("inc", (x: number) => x + 1, { onStateChange: [hook] });
    const f = flow(unique("webhook-map"), () => inc.map([1, 2]), { onStateChange: [hook] });
    await f.run();
    const got = hooks.at("/mapped").map((r) => r.body as WebhookPayload);
    // Two children Success, the parent Mapped (a kind of Success), the flow Success.
    assert.deepEqual(got.map((b) => `${b.task}[${b.mapIndex}] ${b.newState}`).sort(), [
      "inc-1[0] Success",
      "inc-1[1] Success",
      "inc-1[null] Mapped",
      "null[null] Success",
    ]);
  });

  test("a failing answer is retried; a notification that never gets through is a warning, not a failure", async () => {
    hooks.answer = (path, n) =>
      path === "/flaky" && n === 1 ? 503 : path === "/down" ? 500 : path === "/hang" ? 0 : 200;
    const flaky = notify.webhook(hooks.url("/flaky"), { on: ["Success"], retryDelayMs: 5 });
    const down = notify.webhook(hooks.url("/down"), {
      on: ["Success"],
      retries: 1,
      retryDelayMs: 5,
    });
    const hang = notify.webhook(hooks.url("/hang"), {
      on: ["Success"],
      retries: 0,
      timeoutMs: 200,
    });
    const t = task("t", () => 42, { onStateChange: [flaky, down, hang] });
    const f = flow(unique("webhook-retry"), () => t());
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter });
    hooks.answer = () => 200;
    assert.equal(run.state.type, "Success");
    assert.equal(run.result(f.outputs), 42);
    assert.equal(hooks.at("/flaky").length, 2, "retried once, then delivered");
    assert.equal(hooks.at("/down").length, 2, "first attempt and one retry");
    const warnings = reporter
      .logs()
      .filter((r) => r.level === "warn")
      .map((r) => r.message);
    assert.equal(warnings.length, 2);
    assert.match(
      warnings[0]!,
      /^webhook to 127\.0\.0\.1:\d+ notification not sent after 2 attempts: answered 500$/,
    );
    assert.match(warnings[1]!, /not sent after 1 attempts: no answer within 200 ms$/);
    assert.equal(reporter.logs()[0]!.taskSlug, "t-1");
  });

  test("slack posts { text } to the URL its env: reference names, read when sending", async () => {
    process.env.WEFT_TEST_SLACK_URL = hooks.url("/slack/T000/B000/XXXX");
    const t = task(
      "load",
      (): number => {
        throw new Error("disk full");
      },
      { onStateChange: [notify.slack("env:WEFT_TEST_SLACK_URL")] },
    );
    const f = flow(unique("slack"), () => t());
    const run = await f.run();
    const got = hooks.at("/slack/T000/B000/XXXX");
    assert.equal(got.length, 1);
    assert.deepEqual(got[0]!.body, {
      text: `weft: task load-1 of ${f.name} is Failed: disk full (run ${run.id})`,
    });
  });

  test("an unset env: reference is a warning naming the variable", async () => {
    delete process.env.WEFT_TEST_UNSET_SLACK;
    const t = task("t", () => 1, {
      onStateChange: [notify.slack("env:WEFT_TEST_UNSET_SLACK", { on: ["Success"] })],
    });
    const f = flow(unique("slack-unset"), () => t());
    const reporter = new RecordingReporter();
    const run = await f.run({ reporter });
    assert.equal(run.state.type, "Success");
    const warnings = reporter
      .logs()
      .filter((r) => r.level === "warn")
      .map((r) => r.message);
    assert.deepEqual(warnings, [
      "Slack webhook notification not sent: env:WEFT_TEST_UNSET_SLACK is not set",
    ]);
  });

  test("secrets written in code are refused when the handler is made", async () => {
    const refused: [string, () => unknown, string][] = [
      [
        "a literal Authorization header",
        () =>
          notify.webhook("https://hooks.example.com/x", {
            headers: { Authorization: "Bearer abc" },
          }),
        "CREDENTIAL_IN_CONFIG",
      ],
      [
        "a token under a plain header name",
        () =>
          notify.webhook("https://hooks.example.com/x", {
            headers: { "X-Whatever": "ghp_abcdefghijklmnopqrstuvwxyz0123456789" },
          }),
        "CREDENTIAL_IN_CONFIG",
      ],
      [
        "a URL with a password",
        () => notify.webhook("https://user:pw@hooks.example.com/x"),
        "CREDENTIAL_IN_CONFIG",
      ],
      [
        "a URL with a token in its query",
        () => notify.webhook("https://hooks.example.com/x?token=abc"),
        "CREDENTIAL_IN_CONFIG",
      ],
      [
        "a literal Slack URL",
        () => notify.slack("https://hooks.slack.com/services/T/B/X"),
        "CREDENTIAL_IN_CONFIG",
      ],
      ["a non-HTTP URL", () => notify.webhook("ftp://example.com/x"), "INVALID_TASK_OPTIONS"],
      [
        "an unknown state type",
        () => notify.webhook("https://hooks.example.com/x", { on: ["Broken" as "Failed"] }),
        "INVALID_TASK_OPTIONS",
      ],
    ];
    for (const [what, fn, code] of refused) await expectCode(fn, code, what);
    // References and plain headers are fine.
    notify.webhook("env:HOOK_URL", {
      headers: { Authorization: "env:HOOK_TOKEN", "X-Team": "data" },
    });
  });
});
