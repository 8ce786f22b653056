// Part boundaries from ARCHITECTURE.md ("Parts and their rooms"): a part imports only
// from the parts listed under "may use". Checked by `npm run lint`.
const parts = {
  core: [],
  engine: ["core"],
  serialization: ["core"],
  // The container engine client (Docker Engine API): storages build images, environments run them.
  containers: ["core"],
  // The Kubernetes API client (@kubernetes/client-node, loaded lazily): environments run Jobs.
  kubernetes: ["core"],
  storage: ["core", "engine", "serialization", "containers", "kubernetes"],
  environments: [
    "core",
    "engine",
    "storage",
    "serialization",
    "client",
    "containers",
    "kubernetes",
  ],
  server: ["core", "serialization"],
  // ARCHITECTURE.md lists only serialization for client and no core for agent; both implement or use
  // core's contracts (Reporter, Logger, WeftError), and core depends on nothing, so they may use it.
  client: ["core", "serialization"],
  agent: ["core", "client", "storage", "environments", "serialization", "containers", "kubernetes"],
  // Notifications (notify.webhook, notify.slack): state handlers that check secrets as configuration does.
  notify: ["core", "serialization"],
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
      // src/index.ts (the public API) and src/flow.ts (the composition root that attaches the
      // engine's run and serialization's serialize to core's flow model) sit above every part.
      to: { path: `^src/(${forbidden.join("|")}|cli)/|^src/(index|flow)\\.ts$` },
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
      to: { circular: true },
    },
    {
      name: "ui-uses-the-api-only",
      comment:
        "The web UI (ui/) is a browser client of the API: it may use the typed client and the schemas it parses with (client, serialization, core's errors and states), never the server's or the engine's internals.",
      severity: "error",
      from: { path: "^ui/" },
      to: { path: "^src/(?!(client|serialization|core)/)" },
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
