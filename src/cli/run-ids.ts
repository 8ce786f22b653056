import type { ApiClient } from "../client/api-client.ts";
import { WeftError } from "../core/errors.ts";

/** A whole run id (a UUID), taken as it is. */
const FULL_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** The start of a run id: what a run's name shows (`etl-1bda75f8`) is 8 hex digits. */
const PREFIX = /^[0-9a-f-]{4,36}$/i;
/** Candidates an ambiguous prefix lists. */
const SHOWN = 5;

/**
 * The run id that `idOrPrefix` names: a whole id as it is, or the one run
 * whose id starts with it (at least 4 hex digits, e.g. the `1bda75f8` of a
 * run's name). No run, or more than one, is an error naming the candidates.
 */
export async function resolveRunId(api: ApiClient, idOrPrefix: string): Promise<string> {
  if (FULL_ID.test(idOrPrefix)) return idOrPrefix.toLowerCase();
  if (!PREFIX.test(idOrPrefix)) {
    throw new WeftError(
      "INVALID_ARGUMENT",
      `${JSON.stringify(idOrPrefix)} is not a run id: give the whole id or its first 4 or more hex digits`,
      { hint: "`weft runs ls` lists the runs with their ids" },
    );
  }
  const { items } = await api.listFlowRuns({ idPrefix: idOrPrefix, limit: SHOWN + 1 });
  const [only] = items;
  if (only === undefined) {
    throw new WeftError("FLOW_RUN_NOT_FOUND", `no flow run's id starts with ${idOrPrefix}`, {
      hint: "`weft runs ls` lists the runs with their ids",
    });
  }
  if (items.length > 1) {
    const shown = items
      .slice(0, SHOWN)
      .map((r) => `${r.id} (${r.name}, ${r.state.type})`)
      .join(", ");
    throw new WeftError(
      "AMBIGUOUS_RUN_ID",
      `${items.length > SHOWN ? `more than ${SHOWN}` : items.length} flow runs have an id starting with ${idOrPrefix}: ${shown}${items.length > SHOWN ? ", …" : ""}`,
      { hint: "give more of the id" },
    );
  }
  return only.id;
}
