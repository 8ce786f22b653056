#!/usr/bin/env node
// The weft command. Flows are TypeScript files that users never build: tsx's
// loader is registered first, so that both weft and their flows load as written.
import { register } from "tsx/esm/api";

register();
// The AWS SDK is pinned to a version that supports Node 20; its notice about later versions is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const { main } = await import("../src/cli/main.ts");
const code = await main(process.argv.slice(2));
// Exit once stdout is flushed, even if abandoned tasks still hold timers or sockets.
process.stdout.write("", () => process.exit(code));
