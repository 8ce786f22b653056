// What `require("weftflow")` loads. weftflow is an ES module: Node versions that
// can require() one (22.12 and later, or 20.17 and later with
// --experimental-require-module) get it; older ones get one line that says how
// to load it instead of Node's generic error.
try {
  module.exports = require("./index.js");
} catch (error) {
  if (error?.code !== "ERR_REQUIRE_ESM") throw error;
  const advice = new Error(
    'weftflow is an ES module and this Node.js cannot require() it: use `const { task, flow } = await import("weftflow")`, or make your project ES modules ("type": "module" in package.json, or .mjs files)',
  );
  advice.code = "ERR_REQUIRE_ESM";
  advice.stack = `Error [ERR_REQUIRE_ESM]: ${advice.message}`;
  throw advice;
}
