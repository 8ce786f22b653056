// The credential rules of serialized configuration (issue #13, item 3): env maps
// hold only env:NAME references, URLs carry no signature, and the shapes that
// read-scope callers see masked.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { isWeftError } from "../../src/core/errors.ts";
import { createSubprocessEnvironment } from "../../src/environments/subprocess/subprocess-environment.ts";
import {
  assertNoCredentials,
  looksLikeCredential,
  MASKED,
  maskCredentials,
} from "../../src/serialization/credentials.ts";

function refused(json: unknown, ...says: string[]): void {
  assert.throws(
    () => assertNoCredentials(json, "environment"),
    (e: unknown) => {
      assert.ok(isWeftError(e) && e.code === "CREDENTIAL_IN_CONFIG", String(e));
      for (const s of says) assert.ok(e.message.includes(s), `${e.message} should say ${s}`);
      return true;
    },
  );
}

describe("credentials in serialized configuration", () => {
  test("an env map holds only env:NAME references", () => {
    refused(
      { type: "subprocess", env: { LOG_LEVEL: "debug" } },
      "environment.env.LOG_LEVEL",
      "literal",
    );
    refused({ type: "subprocess", env: { N: 3 } }, "environment.env.N");
    assertNoCredentials({ type: "subprocess", env: { LOG_LEVEL: "env:LOG_LEVEL" } }, "environment");
    // A subprocess environment made in code may hold literals (run where it is defined), but not serialize them.
    const literal = createSubprocessEnvironment({ env: { LOG_LEVEL: "debug" } });
    refused(literal.toJSON(), "env.LOG_LEVEL");
  });

  test("a URL whose query carries a signature or token is refused, naming the parameter, never the value", () => {
    for (const [query, name] of [
      ["X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=abc123", "X-Amz-Signature"],
      ["X-Goog-Signature=abc123", "X-Goog-Signature"],
      ["sv=2022&sig=abc123", "sig"],
      ["Signature=abc123&Key-Pair-Id=K1", "Signature"],
      ["token=abc123", "token"],
      ["access_token=abc123", "access_token"],
      ["api_key=abc123", "api_key"],
    ] as const) {
      const json = { url: `https://files.example.com/flows?${query}` };
      assert.throws(
        () => assertNoCredentials(json, "storage"),
        (e: unknown) =>
          isWeftError(e) && e.message.includes(`"${name}"`) && !e.message.includes("abc123"),
      );
    }
    assertNoCredentials({ url: "https://files.example.com/flows?region=eu&author=me" }, "storage");
  });

  test("credential shapes are recognized conservatively", () => {
    for (const secret of [
      "AKIAIOSFODNN7EXAMPLE",
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n-----END OPENSSH PRIVATE KEY-----",
      `ghp_${"a1B2c3D4e5".repeat(4)}`,
      `github_pat_${"a1B2c3D4e5".repeat(4)}`,
      "xoxb-1234567890-abcdefghij",
      `sk_live_${"a1B2c3D4".repeat(3)}`,
      `AIza${"a1B2c3D4e5".repeat(3)}abcde`,
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
      "q8Zt3LmN0pXv7Rk2Wd9Yb4Hs6Jf1Gc5Ue",
      "https://user:pa55@db.example.com/x",
    ]) {
      assert.ok(looksLikeCredential(secret), secret);
    }
    for (const ordinary of [
      "a".repeat(64),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
      "0f8fad5b-d9cb-469f-a165-70867728950e",
      "2026-01-01T00:00:00.000Z",
      "s3://bucket/prefix/flows",
      "the quick brown fox jumps over the lazy dog again",
      "ProcessCustomerOrdersNightlyJob2026",
    ]) {
      assert.ok(!looksLikeCredential(ordinary), ordinary);
    }
  });

  test("maskCredentials masks by shape and under credential-looking names, leaving the rest", () => {
    assert.deepEqual(
      maskCredentials({
        repo: "weft/weft",
        dbPassword: "short",
        author: "ada",
        nested: [{ key: "AKIAIOSFODNN7EXAMPLE" }, 3, null],
      }),
      { repo: "weft/weft", dbPassword: MASKED, author: "ada", nested: [{ key: MASKED }, 3, null] },
    );
  });
});
