#!/usr/bin/env node
// The weft command (also installed as `weftflow`, so that `npx weftflow …` works
// anywhere). It runs the build in dist/; TypeScript flow files are loaded through
// tsx only when a command imports one (see src/engine/user-modules.ts).
// The AWS SDK is pinned to a version that supports Node 20; its notice about later versions is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const entry = new URL("../dist/cli.js", import.meta.url);
let cli;
try {
  cli = await import(entry.href);
} catch (error) {
  if (error?.code !== "ERR_MODULE_NOT_FOUND" || error.url !== entry.href) throw error;
  process.stderr.write(
    "error: weft is not built: dist/cli.js is missing (NOT_BUILT)\nhint: run npm run build in the weftflow checkout\n",
  );
  process.exit(2);
}
const code = await cli.main(process.argv.slice(2));
// Exit once stdout is flushed, even if abandoned tasks still hold timers or sockets.
process.stdout.write("", () => process.exit(code));
