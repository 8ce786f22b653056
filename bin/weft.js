#!/usr/bin/env node
// The weft command. Flows are TypeScript files that users never build: tsx's
// loader is registered first, so that both weft and their flows load as written.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../src/cli/main.ts");
const code = await main(process.argv.slice(2));
// Exit once stdout is flushed, even if abandoned tasks still hold timers or sockets.
process.stdout.write("", () => process.exit(code));
