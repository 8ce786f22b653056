// The state-transition rules, as a pure function: every pair of state types.
import assert from "node:assert/strict";
import { test } from "node:test";
import { isStateA, STATE_TYPES, type StateType } from "../../../src/core/states.ts";
import { transitionError } from "../../../src/server/db/transitions.ts";

const finished = STATE_TYPES.filter((t) => isStateA(t, "Finished"));
const pending = STATE_TYPES.filter((t) => isStateA(t, "Pending"));

test("nothing leaves a finished state", () => {
  for (const from of finished)
    for (const to of STATE_TYPES)
      assert.ok(transitionError(from, to), `${from} → ${to} must be refused`);
});

test("Submitted follows only Scheduled (and Retrying, a kind of Scheduled)", () => {
  for (const from of STATE_TYPES) {
    const allowed = from === "Scheduled" || from === "Retrying";
    assert.equal(transitionError(from, "Submitted") === undefined, allowed, `${from} → Submitted`);
  }
});

test("Cancelling follows only Running, and is followed only by a finished state", () => {
  for (const from of STATE_TYPES)
    assert.equal(
      transitionError(from, "Cancelling") === undefined,
      from === "Running",
      `${from} → Cancelling`,
    );
  for (const to of STATE_TYPES)
    assert.equal(
      transitionError("Cancelling", to) === undefined,
      isStateA(to, "Finished"),
      `Cancelling → ${to}`,
    );
});

test("the ordinary paths are open: pending ↔ running, either → finished; a first state is free", () => {
  const ok: [StateType, StateType][] = [
    ["Scheduled", "Running"],
    ["Submitted", "Running"],
    ["Pending", "Running"],
    ["Running", "Retrying"],
    ["Retrying", "Running"],
    ["Running", "Scheduled"],
    ["Submitted", "Scheduled"],
    ["Running", "Paused"],
    ["Paused", "Running"],
    ["Running", "Success"],
    ["Running", "TimedOut"],
    ["Scheduled", "Cancelled"],
    ["Pending", "Skipped"],
    ["Pending", "TriggerFailed"],
    ["Running", "Mapped"],
  ];
  for (const [from, to] of ok)
    assert.equal(transitionError(from, to), undefined, `${from} → ${to}`);
  for (const to of STATE_TYPES)
    assert.equal(transitionError(undefined, to), undefined, `first ${to}`);
  for (const from of pending)
    for (const to of finished)
      assert.equal(transitionError(from, to), undefined, `${from} → ${to}`);
});

test("a refusal says why", () => {
  assert.match(transitionError("Success", "Running")!, /finished/);
  assert.match(transitionError("Running", "Submitted")!, /Scheduled/);
});
