// The web UI's entry, a few KB: it starts the first view's API read (first-read.ts),
// then runs the app (root.tsx), a chunk of its own that index.html already preloads, so the
// API's answer and the app's loading overlap.
import { startFirstRead } from "./first-read.ts";

startFirstRead();
void import("./root.tsx");
