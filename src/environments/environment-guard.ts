// The one runtime guard every environment runs behind (as StorageGuard is for storages,
// and Kysely's RuntimeDriver for drivers). Each kind's factory returns its
// implementation wrapped here, so the rules below hold for every kind, built in code or
// rebuilt from JSON, and an implementation states only what is its own.
//
// Invariants:
// - The storage × environment pairing is checked here, once per storage, and nowhere
//   in an implementation: `setup(storage)` refuses an unfit storage before the
//   implementation provisions anything. The refusal is `checkPairing`'s
//   (STORAGE_NOT_SHAREABLE, naming both) unless the kind words its own
//   (`EnvironmentKind.refusePairing`, e.g. the distributed environment's hint about
//   shared directories).
// - `execute` without a `setup` of that storage (allowed: callers that run a flow once
//   may skip it) checks the pairing first; an unfit storage resolves a Failed run that
//   says why, between the hooks, as any run that cannot start does, and no task runs.
// - `teardown` is always there and idempotent: an implementation without one has
//   nothing to reap.

import type { WeftError } from "../core/errors.ts";
import { pairingRefusal } from "../serialization/deployment.ts";
import { parseLocation, type Storage } from "../storage/storage.ts";
import {
  type Environment,
  type EnvironmentHooks,
  type EnvironmentHost,
  type EnvironmentKind,
  type ExecuteContext,
  type ExecuteResult,
  type SerializedEnvironment,
  withHooks,
} from "./environment.ts";

/** What a kind's file hands the guard: the environment, and its code-only hooks. */
export interface EnvironmentImpl extends Environment {
  /** The hooks a run that cannot start (an unfit storage) still runs between. */
  readonly hooks: EnvironmentHooks;
}

class EnvironmentGuard implements Environment {
  /** Storages whose pairing was checked (by setup or an earlier execute). */
  private readonly fitting = new WeakSet<Storage>();

  constructor(
    private readonly impl: EnvironmentImpl,
    private readonly kind: Pick<EnvironmentKind, "refusePairing">,
  ) {}

  get type(): string {
    return this.impl.type;
  }
  get labels(): string[] {
    return this.impl.labels;
  }
  get storageNeeds(): Environment["storageNeeds"] {
    return this.impl.storageNeeds;
  }
  get retriesElsewhere(): boolean {
    return this.impl.retriesElsewhere ?? false;
  }
  get runsImages(): boolean {
    return this.impl.runsImages ?? false;
  }

  async setup(storage: Storage, host?: EnvironmentHost): Promise<void> {
    const refusal = this.refusal(storage);
    if (refusal !== undefined) throw refusal;
    await this.impl.setup(storage, host);
    this.fitting.add(storage);
  }

  execute(storage: Storage, location: string, ctx: ExecuteContext): Promise<ExecuteResult> {
    if (!this.fitting.has(storage)) {
      const refusal = this.refusal(storage);
      if (refusal !== undefined) {
        return withHooks(this.impl.hooks, ctx, parseLocation(location, storage.name).flowName, () =>
          Promise.reject(refusal),
        );
      }
      this.fitting.add(storage);
    }
    return this.impl.execute(storage, location, ctx);
  }

  async teardown(ctx: ExecuteContext): Promise<void> {
    await this.impl.teardown?.(ctx);
  }

  toJSON(): SerializedEnvironment {
    return this.impl.toJSON();
  }

  /** Why `storage` does not fit, in the kind's words, or undefined when it fits. */
  private refusal(storage: Storage): WeftError | undefined {
    const refused = pairingRefusal(this.impl, storage);
    if (refused === undefined) return undefined;
    return this.kind.refusePairing?.(storage, refused) ?? refused;
  }
}

/** Wraps an environment implementation in the runtime guard (every kind's factory returns a guarded environment). */
export function guardEnvironment(
  impl: EnvironmentImpl,
  kind: Pick<EnvironmentKind, "refusePairing">,
): Environment {
  return new EnvironmentGuard(impl, kind);
}
