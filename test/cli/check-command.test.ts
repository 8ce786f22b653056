// `weft check <file…>`: real flow files in temporary projects, checked by the
// real TypeScript. Most cases run main() in this process; the child processes
// run the real `weft`, and a copy of it installed without TypeScript.
import assert from "node:assert/strict";
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, before, describe, test } from "node:test";
import { runCli as runInProcess } from "../support/cli.ts";
import { assertCliError, type CliResult } from "../support/cli-result.ts";
import { repoRoot, runWeft, startNode, stopAll } from "../support/weft-process.ts";

after(() => stopAll());

const require = createRequire(import.meta.url);

/** True once any copy of the typescript package is loaded in this process. */
function typescriptLoaded(): boolean {
  return Object.keys(require.cache).some((file) =>
    /[\\/]node_modules[\\/]typescript[\\/]/.test(file),
  );
}

/** The document `weft check --json` prints. */
interface CheckJson {
  readonly files: readonly string[];
  readonly tsconfig: string | null;
  readonly typescript: string;
  readonly diagnostics: readonly {
    readonly file: string | null;
    readonly line: number | null;
    readonly column: number | null;
    readonly code: number;
    readonly message: string;
    readonly category: string;
  }[];
}

/** Cheap to check: no DOM, no @types, declaration files taken as they are. */
const CHEAP_OPTIONS = {
  module: "NodeNext",
  moduleResolution: "NodeNext",
  target: "ES2022",
  lib: ["ES2022"],
  types: [],
  skipLibCheck: true,
  allowImportingTsExtensions: true,
  noEmit: true,
};

const IMPLICIT_ANY = "export const identity = (value) => value;\n";

/** Writes files (path → text) under `dir`. */
function write(dir: string, files: Readonly<Record<string, string | object>>): void {
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(
      join(dir, path),
      typeof content === "string" ? content : `${JSON.stringify(content, null, 2)}\n`,
    );
  }
}

const root = mkdtempSync(join(tmpdir(), "weft-check-"));
/** A path under the temporary root as the CLI prints it: relative to the current directory. */
const shown = (...parts: string[]) => relative(process.cwd(), join(root, ...parts));
const at = (...parts: string[]) => join(root, ...parts);

before(() => {
  const module = { type: "module" };
  // strict: its own tsconfig; a type error, an error in an imported file, and a broken
  // file in the tsconfig's include set that no checked file imports.
  write(at("strict"), {
    "package.json": module,
    "tsconfig.json": { compilerOptions: { strict: true, ...CHEAP_OPTIONS }, include: ["**/*.ts"] },
    "math.ts": "export function add(a: number, b: number): number {\n  return a + b;\n}\n",
    "bad-flow.ts":
      'import { add } from "./math.ts";\n\nconst x = 1;\nexport const total = add(x, "a");\n',
    "clean.ts": 'import { add } from "./math.ts";\n\nexport const total = add(1, 2);\n',
    "unrelated-broken.ts": 'export const n: number = "not a number";\n',
    "uses-broken.ts": 'import { broken } from "./broken.ts";\n\nexport const twice = broken * 2;\n',
    "broken.ts": 'export const broken: number = "x";\n',
  });
  // loose: a tsconfig that turns strict off, so an implicit any is fine.
  write(at("loose"), {
    "package.json": module,
    "tsconfig.json": { compilerOptions: { strict: false, ...CHEAP_OPTIONS } },
    "implicit.ts": IMPLICIT_ANY,
  });
  // bare: no tsconfig anywhere above it (the temporary directory has none).
  write(at("bare"), { "package.json": module, "implicit.ts": IMPLICIT_ANY });
  // invalid: a tsconfig that does not parse.
  write(at("invalid"), {
    "package.json": module,
    "tsconfig.json": '{\n  "compilerOptions": {\n    "strict": true,\n    oops\n  }\n}\n',
    "flow.ts": "export const one = 1;\n",
  });
});

after(() => rmSync(root, { recursive: true, force: true }));

test("weft --version and weft check --help do not load TypeScript", async () => {
  assert.equal(typescriptLoaded(), false, "nothing loaded TypeScript before the commands ran");
  const version = await runInProcess(["--version"]);
  assert.equal(version.code, 0, version.stderr);
  const help = await runInProcess(["check", "--help"]);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /^Usage: weft check \[options\] <file\.\.\.>/m);
  assert.match(help.stdout, /^Examples:\n {2}weft check /m);
  // The help says which options apply without a tsconfig.
  assert.match(help.stdout, /strict: true, module: NodeNext, moduleResolution: NodeNext/);
  assert.equal(typescriptLoaded(), false, "--version and --help loaded TypeScript");
});

describe("weft check: results and exit codes", () => {
  test("a clean flow passes: exit 0, nothing on stdout, a summary on stderr", async () => {
    const result = await runInProcess(["check", "examples/etl.ts"]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(result.stdout, "");
    assert.match(
      result.stderr,
      /^checked 1 file with tsconfig\.json: no type errors \(TypeScript \d+\.\d+\.\d+.*\)\n$/,
    );
  });

  test("a call with a wrong argument type is reported as file:line:col: message (TS2345), exit 1", async () => {
    const result = await runInProcess(["check", shown("strict", "bad-flow.ts")]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      result.stdout,
      `${shown("strict", "bad-flow.ts")}:4:29: Argument of type 'string' is not assignable to parameter of type 'number'. (TS2345)\n`,
    );
    assert.match(
      result.stderr,
      new RegExp(
        `^1 error in 1 file \\(checked 1 file with ${shown("strict", "tsconfig.json").replaceAll(".", "\\.")}, TypeScript [^)]+\\)\\n$`,
      ),
    );
  });

  test("what a checked file imports is checked; the rest of the tsconfig's include set is not", async () => {
    const broken = await runInProcess(["check", shown("strict", "uses-broken.ts")]);
    assert.equal(broken.code, 1, broken.stderr);
    assert.equal(
      broken.stdout,
      `${shown("strict", "broken.ts")}:1:14: Type 'string' is not assignable to type 'number'. (TS2322)\n`,
    );
    // unrelated-broken.ts is in the include set, with a type error: never reported.
    const clean = await runInProcess([
      "check",
      shown("strict", "clean.ts"),
      shown("strict", "math.ts"),
    ]);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.equal(clean.stdout, "");
    assert.match(clean.stderr, /^checked 2 files with .*tsconfig\.json: no type errors/);
  });

  test("--json prints one document with every diagnostic", async () => {
    const result = await runInProcess([
      "check",
      shown("strict", "bad-flow.ts"),
      shown("strict", "uses-broken.ts"),
      "--json",
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(result.stderr, "");
    const report = JSON.parse(result.stdout) as CheckJson;
    assert.deepEqual(report.files, [
      shown("strict", "bad-flow.ts"),
      shown("strict", "uses-broken.ts"),
    ]);
    assert.equal(report.tsconfig, shown("strict", "tsconfig.json"));
    assert.match(report.typescript, /^\d+\.\d+\.\d+/);
    assert.deepEqual(report.diagnostics, [
      {
        file: shown("strict", "bad-flow.ts"),
        line: 4,
        column: 29,
        code: 2345,
        message: "Argument of type 'string' is not assignable to parameter of type 'number'.",
        category: "error",
      },
      {
        file: shown("strict", "broken.ts"),
        line: 1,
        column: 14,
        code: 2322,
        message: "Type 'string' is not assignable to type 'number'.",
        category: "error",
      },
    ]);
  });
});

describe("weft check: compiler options", () => {
  test("the project's tsconfig is honoured: strict off accepts an implicit any", async () => {
    const result = await runInProcess(["check", shown("loose", "implicit.ts")]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stderr, /^checked 1 file with .*loose\/tsconfig\.json: no type errors/);
  });

  test("without a tsconfig, the strict default reports an implicit any", async () => {
    const result = await runInProcess(["check", shown("bare", "implicit.ts")]);
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      result.stdout,
      `${shown("bare", "implicit.ts")}:1:26: Parameter 'value' implicitly has an 'any' type. (TS7006)\n`,
    );
    assert.match(
      result.stderr,
      /^1 error in 1 file \(checked 1 file with weft's strict default options,/,
    );
  });

  test("--project names the tsconfig (a file or its directory)", async () => {
    for (const project of [shown("loose", "tsconfig.json"), shown("loose")]) {
      const result = await runInProcess([
        "check",
        shown("bare", "implicit.ts"),
        "--project",
        project,
      ]);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stderr, /^checked 1 file with .*loose\/tsconfig\.json: no type errors/);
    }
  });
});

describe("weft check: bad input (exit 2)", () => {
  test("a file that does not exist is named", async () => {
    const missing = shown("strict", "no-such-flow.ts");
    const result = await runInProcess(["check", shown("strict", "clean.ts"), missing]);
    assertCliError(result, {
      code: "FLOW_MODULE_NOT_FOUND",
      says: [`flow file not found: ${missing}`],
    });
  });

  test("a tsconfig that does not parse is named, with where", async () => {
    const result = await runInProcess(["check", shown("invalid", "flow.ts")]);
    assertCliError(result, {
      code: "TSCONFIG_INVALID",
      says: [
        `invalid tsconfig ${shown("invalid", "tsconfig.json")}: ${shown("invalid", "tsconfig.json")}:4:5:`,
      ],
      hint: "name another with --project",
    });
  });

  test("a --project that does not exist is named", async () => {
    const result = await runInProcess([
      "check",
      shown("strict", "clean.ts"),
      "--project",
      shown("nowhere", "tsconfig.json"),
    ]);
    assertCliError(result, {
      code: "TSCONFIG_NOT_FOUND",
      says: [`tsconfig not found: ${shown("nowhere", "tsconfig.json")}`],
    });
  });
});

describe("weft check: the real command", { concurrency: true }, () => {
  test("bin/weft.js check prints diagnostics relative to its directory, on stdout; the summary on stderr", async () => {
    const result = await runWeft(["check", "bad-flow.ts"], { cwd: at("strict") });
    assert.equal(result.code, 1, result.stderr);
    assert.equal(
      result.stdout,
      "bad-flow.ts:4:29: Argument of type 'string' is not assignable to parameter of type 'number'. (TS2345)\n",
    );
    assert.match(
      result.stderr,
      /^1 error in 1 file \(checked 1 file with tsconfig\.json, TypeScript /,
    );
  });

  // A copy of weft installed without TypeScript next to it: it must use the project's,
  // and without one refuse with the command that installs it.
  describe("installed without TypeScript", () => {
    const installed = at("install", "node_modules", "weftflow");
    const bin = join(installed, "bin", "weft.js");
    // No global folders or NODE_PATH may lend it a TypeScript either.
    const env = { HOME: at("install"), NODE_PATH: "" };

    before(() => {
      cpSync(join(repoRoot, "package.json"), join(installed, "package.json"));
      cpSync(join(repoRoot, "bin"), join(installed, "bin"), { recursive: true });
      cpSync(join(repoRoot, "dist"), join(installed, "dist"), {
        recursive: true,
        filter: (source) => source !== join(repoRoot, "dist", "types"),
      });
      mkdirSync(join(installed, "node_modules"));
      for (const name of readdirSync(join(repoRoot, "node_modules"))) {
        if (name === "typescript" || name === ".bin") continue;
        symlinkSync(join(repoRoot, "node_modules", name), join(installed, "node_modules", name));
      }
      const project = { compilerOptions: { strict: true, ...CHEAP_OPTIONS } };
      write(at("install", "without-ts"), {
        "package.json": { type: "module" },
        "tsconfig.json": project,
        "flow.ts": "export const one: number = 1;\n",
      });
      write(at("install", "with-ts"), {
        "package.json": { type: "module" },
        "tsconfig.json": project,
        "flow.ts": "export const one: number = 1;\n",
      });
      mkdirSync(at("install", "with-ts", "node_modules"));
      symlinkSync(
        dirname(require.resolve("typescript/package.json")),
        at("install", "with-ts", "node_modules", "typescript"),
      );
    });

    test("a project without TypeScript: exit 2 with the command to install it", async () => {
      const result: CliResult = await startNode(bin, ["check", "flow.ts"], {
        cwd: at("install", "without-ts"),
        env,
      }).done;
      assertCliError(result, {
        code: "TYPESCRIPT_NOT_FOUND",
        says: ["TypeScript is not installed"],
        hint: "npm install -D typescript",
      });
    });

    test("a project with its own TypeScript is checked with it", async () => {
      const result = await startNode(bin, ["check", "flow.ts"], {
        cwd: at("install", "with-ts"),
        env,
      }).done;
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.match(result.stderr, /^checked 1 file with tsconfig\.json: no type errors/);
    });
  });
});
