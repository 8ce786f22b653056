// URLs over the header limit (issue 13, item 11): Node's parser refuses them
// before the app sees them, with a bare 431 and a reset for a client still
// sending. The server answers in the API's JSON error shape, and serves on.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { after, before, describe, test } from "node:test";
import { MAX_HEADER_BYTES, type RunningServer, startServer } from "../../../src/server/server.ts";
import { rawRequest } from "./raw-http.ts";

describe("requests over the header limit", () => {
  let server: RunningServer;
  before(async () => {
    server = await startServer({ db: ":memory:", port: 0, scheduler: false, runHealth: false });
  });
  after(async () => {
    await server?.close();
  });

  for (const size of [20_000, 100_000]) {
    test(`a ${size / 1000} KB URL is 431 HEADERS_TOO_LARGE in JSON, and the server serves on`, async () => {
      const answer = await rawRequest(
        server.port,
        "GET",
        `/api/flow-runs?state=${"x".repeat(size)}`,
      );
      assert.equal(answer.status, 431, answer.text);
      assert.match(String(answer.headers["content-type"]), /^application\/json/);
      const { error } = answer.json();
      assert.equal(error.code, "HEADERS_TOO_LARGE");
      assert.match(
        error.message,
        new RegExp(`URL and headers are larger than .*${MAX_HEADER_BYTES} bytes`),
      );
      assert.match(error.hint, /shorten the URL/);
      assert.equal((await rawRequest(server.port, "GET", "/api/health")).status, 200);
    });
  }

  test("a long header is answered the same way; a request that is not HTTP is 400 in JSON", async () => {
    const long = await rawRequest(server.port, "GET", "/api/health", {
      "x-big": "y".repeat(20_000),
    });
    assert.equal(long.status, 431);
    assert.equal(long.json().error.code, "HEADERS_TOO_LARGE");

    const socket = connect(server.port, "127.0.0.1");
    socket.setEncoding("utf8");
    let text = "";
    socket.on("data", (chunk: string) => {
      text += chunk;
    });
    socket.write("NOT HTTP AT ALL\r\n\r\n");
    await new Promise<void>((resolve, reject) => {
      socket.on("end", resolve);
      socket.on("error", reject);
    });
    socket.destroy();
    assert.match(text, /^HTTP\/1\.1 400 Bad Request\r\n/);
    const body = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
    assert.equal(body.error.code, "INVALID_REQUEST");
    assert.equal((await rawRequest(server.port, "GET", "/api/health")).status, 200);
  });
});
