// The web UI's build: a single-page app into dist/ui, which the server serves at `/`
// (src/server/api/ui-assets.ts). Assets get content-hashed names under /assets/, so the
// server can let browsers keep them for a year; index.html is never cached.
//
// Development: `npx vite --config ui/vite.config.ts` serves the UI with hot reload and
// proxies /api (JSON routes and event streams) to a running `weft up` (WEFT_API_URL,
// default http://127.0.0.1:4200). The proxy sends the server's own Host (changeOrigin),
// which the request guard accepts; the browser's Origin stays the dev server's, so start
// weft up with `--allowed-origin http://localhost:5173` (docs/ui.md, "Develop").
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const ui = fileURLToPath(new URL(".", import.meta.url));

export default defineConfig({
  root: ui,
  base: "/",
  plugins: [react()],
  // The typed API client and its schemas come from src/ (client, serialization, core/errors):
  // the same code the CLI and agents use, bundled for the browser.
  // core/states.ts imports node:util for one message: the browser gets a small stand-in.
  resolve: {
    conditions: ["weftflow-source", "browser"],
    alias: { "node:util": fileURLToPath(new URL("src/shims/node-util.ts", import.meta.url)) },
  },
  build: {
    outDir: fileURLToPath(new URL("../dist/ui", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      "/api": { target: process.env.WEFT_API_URL ?? "http://127.0.0.1:4200", changeOrigin: true },
    },
  },
  logLevel: "warn",
});
