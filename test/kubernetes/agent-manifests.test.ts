// `weft agent install kubernetes`: the manifests parse (kubectl reads the YAML as the same objects
// as the JSON List), apply to the real cluster, and the agent's ServiceAccount may do exactly
// what the agent needs in its namespace: create a Job, follow Pods and their logs; not delete a
// Deployment, not read Secrets, not create Jobs in another namespace.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { after, before, test } from "node:test";
import { KUBERNETES_RUN_PERMISSIONS } from "../../src/environments/kubernetes/kubernetes-environment.ts";
import { okStdout, runCli } from "../support/cli.ts";
import { assertCliError } from "../support/cli-result.ts";
import {
  createTestNamespace,
  deleteTestNamespace,
  kubectl,
  kubectlPath,
  noKubernetes,
  testKubeconfig,
} from "../support/kubernetes.ts";

// createTestNamespace("install") makes this name.
const namespace = `weft-install-${process.pid}`;
const install = [
  "agent",
  "install",
  "kubernetes",
  "--namespace",
  namespace,
  "--image",
  "127.0.0.1:5000/weftflow-runtime:test",
  "--api",
  "http://127.0.0.1:4200",
  "--token-secret",
  "weft-agent/token",
  "--labels",
  "k8s,gpu",
];

test("the manifests: ServiceAccount, Role, RoleBinding, Deployment of one replica, Recreate", async () => {
  const list = JSON.parse(okStdout(await runCli([...install, "--json"]))) as {
    items: Array<{ kind: string; metadata: { namespace: string }; [k: string]: unknown }>;
  };
  assert.deepEqual(
    list.items.map((m) => m.kind),
    ["ServiceAccount", "Role", "RoleBinding", "Deployment"],
  );
  for (const m of list.items) assert.equal(m.metadata.namespace, namespace);
  const deployment = list.items[3] as unknown as {
    spec: {
      replicas: number;
      strategy: { type: string };
      template: {
        spec: {
          serviceAccountName: string;
          containers: Array<{ args: string[]; env: Array<Record<string, unknown>> }>;
        };
      };
    };
  };
  assert.equal(deployment.spec.replicas, 1);
  assert.equal(deployment.spec.strategy.type, "Recreate", "two agents of one name never overlap");
  assert.equal(deployment.spec.template.spec.serviceAccountName, "weft-agent");
  const container = deployment.spec.template.spec.containers[0]!;
  assert.deepEqual(container.args.slice(0, 3), ["agent", "start", "--kubernetes"]);
  assert.ok(container.args.includes("k8s,gpu"));
  assert.deepEqual(container.env[1], {
    name: "WEFT_API_TOKEN",
    valueFrom: { secretKeyRef: { name: "weft-agent", key: "token" } },
  });
});

test("bad input: another platform, a bad namespace, a bad --token-secret", async () => {
  assertCliError(await runCli(["agent", "install", "nomad", "--image", "x"]), {
    code: "USAGE",
    says: [/nomad/],
  });
  assertCliError(
    await runCli(["agent", "install", "kubernetes", "--image", "x", "--namespace", "Bad_NS"]),
    {
      code: "INVALID_ARGUMENT",
      says: ['namespace "Bad_NS"'],
    },
  );
  assertCliError(
    await runCli(["agent", "install", "kubernetes", "--image", "x", "--token-secret", "nokey"]),
    {
      code: "INVALID_ARGUMENT",
      says: ['--token-secret "nokey"'],
    },
  );
});

test("the YAML and the JSON are the same objects to kubectl", { skip: noKubernetes }, async () => {
  const yaml = okStdout(await runCli(install));
  const json = okStdout(await runCli([...install, "--json"]));
  // kubectl prints one JSON object per document read (a List's items too, as one List).
  const read = (text: string): unknown[] =>
    kubectl(["create", "--dry-run=client", "-o", "json", "-f", "-"], text)
      .trim()
      .split(/\n\}\n\{/)
      .map((part, i, all) =>
        JSON.parse(`${i > 0 ? "{" : ""}${part}${i < all.length - 1 ? "}" : ""}`),
      )
      .flatMap((o: { kind: string; items?: unknown[] }) =>
        o.kind === "List" ? (o.items ?? []) : [o],
      );
  const fromYaml = read(yaml);
  assert.equal(fromYaml.length, 4);
  assert.deepEqual(fromYaml, read(json));
});

before(() => {
  if (noKubernetes === false) assert.equal(createTestNamespace("install"), namespace);
});
after(() => {
  if (noKubernetes === false) deleteTestNamespace(namespace);
});

test("applied to the cluster, its ServiceAccount may do what the agent needs and no more", {
  skip: noKubernetes,
}, async () => {
  kubectl(["apply", "-f", "-"], okStdout(await runCli(install)));
  const as = `system:serviceaccount:${namespace}:weft-agent`;
  const can = (verb: string, resource: string, ns = namespace): boolean => {
    const r = spawnSync(
      kubectlPath(),
      ["--kubeconfig", testKubeconfig!, "auth", "can-i", verb, resource, "-n", ns, `--as=${as}`],
      { encoding: "utf8" },
    );
    return r.stdout.trim() === "yes";
  };
  for (const verb of ["create", "get", "list", "watch", "delete"])
    assert.ok(can(verb, "jobs.batch"), `${verb} jobs`);
  for (const verb of ["get", "list", "watch", "delete"])
    assert.ok(can(verb, "pods"), `${verb} pods`);
  assert.ok(can("get", "pods/log"));
  // Everything the kubernetes environment's setup checks with its access review.
  for (const p of KUBERNETES_RUN_PERMISSIONS) {
    const resource = `${p.resource}${"subresource" in p ? `/${p.subresource}` : ""}${p.group === "" ? "" : `.${p.group}`}`;
    assert.ok(can(p.verb, resource), `${p.verb} ${resource}`);
  }
  assert.ok(can("get", `namespace/${namespace}`), "its own namespace");
  assert.ok(can("create", "selfsubjectaccessreviews.authorization.k8s.io"));
  assert.ok(!can("delete", "deployments.apps"), "no Deployments");
  assert.ok(!can("get", "secrets"), "no Secrets");
  assert.ok(!can("create", "pods"), "Pods come from Jobs only");
  assert.ok(!can("delete", "pods", "default"), "no Pods of other namespaces");
  assert.ok(!can("create", "jobs.batch", "default"), "one namespace");
  assert.ok(!can("get", "namespace/default", "default"), "not other namespaces");
  // And for real, as the ServiceAccount: a Job is created (server-side dry run), a Deployment not deleted.
  const job = JSON.stringify({
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name: "probe", namespace },
    spec: {
      template: {
        spec: { restartPolicy: "Never", containers: [{ name: "c", image: "x" }] },
      },
    },
  });
  kubectl(["create", "--dry-run=server", `--as=${as}`, "-f", "-"], job);
  const refused = spawnSync(
    kubectlPath(),
    [
      "--kubeconfig",
      testKubeconfig!,
      "delete",
      "deployment",
      "weft-agent",
      "-n",
      namespace,
      `--as=${as}`,
      "--dry-run=server",
    ],
    { encoding: "utf8" },
  );
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /forbidden/);
});
