// The server-sent events reader of the typed client: the SSE line format in every way a
// stream may cut it, and typed events checked against their schemas.
import assert from "node:assert/strict";
import { test } from "node:test";
import { readLiveEvents, ServerEventParser } from "../../src/client/event-stream.ts";

test("the parser takes LF, CRLF and CR line ends, comments and several data lines, across any cut", () => {
  const text =
    ': keepalive\n\nevent: ready\ndata: {"reason":"connected"}\n\n' +
    "event: run\r\ndata: a\r\ndata: b\r\n\r\n" +
    "event:logs\rdata:x\r\rdata: untyped\n\n";
  const expected = [
    { event: "ready", data: '{"reason":"connected"}' },
    { event: "run", data: "a\nb" },
    { event: "logs", data: "x" },
    { event: "message", data: "untyped" },
  ];
  // Whole, and cut at every position (a CR at a cut may be half of a CRLF).
  for (let cut = 0; cut <= text.length; cut++) {
    const parser = new ServerEventParser();
    const events = [...parser.push(text.slice(0, cut)), ...parser.push(text.slice(cut))];
    assert.deepEqual(events, expected, `cut at ${cut}`);
  }
  // One character at a time.
  const parser = new ServerEventParser();
  const events = [...text].flatMap((c) => parser.push(c));
  assert.deepEqual(events, expected);
});

test("readLiveEvents yields typed events, skips unknown types and refuses data that breaks its schema", async () => {
  const body = (text: string) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(text));
        controller.close();
      },
    });
  const events = [];
  for await (const e of readLiveEvents(
    body('event: ready\ndata: {"reason":"overflow"}\n\nevent: future\ndata: {}\n\n'),
    "test",
  ))
    events.push(e);
  assert.deepEqual(events, [{ type: "ready", data: { reason: "overflow" } }]);

  await assert.rejects(
    async () => {
      for await (const _ of readLiveEvents(body('event: run\ndata: {"id":1}\n\n'), "test"));
    },
    (error: Error & { code?: string }) =>
      error.code === "API_ERROR" && /unexpected run event from test/.test(error.message),
  );
  await assert.rejects(
    async () => {
      for await (const _ of readLiveEvents(body("event: logs\ndata: not json\n\n"), "test"));
    },
    (error: Error & { code?: string }) =>
      error.code === "API_ERROR" && /not JSON/.test(error.message),
  );
});
