/// <reference types="vitest/config" />
// Builds the UI into the Python package (portal serve serves it at /); `npm run dev` proxies the API to a running portal.
import react from "@vitejs/plugin-react";
import tailwindcss from "@tailwindcss/vite";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { defineConfig, type Plugin } from "vite";

// Swagger UI for /api/docs, served by the portal itself (no CDN): the files of swagger-ui-dist that the page
// loads, copied into the build next to its own start script (public/api-docs/init.js).
const SWAGGER_FILES = ["swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-bundle.js.LICENSE.txt", "LICENSE", "NOTICE"];

function swaggerUi(): Plugin {
  const dist = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
  return {
    name: "portal-swagger-ui",
    apply: "build",
    generateBundle() {
      for (const name of SWAGGER_FILES) {
        this.emitFile({ type: "asset", fileName: `api-docs/${name}`, source: readFileSync(join(dist, name)) });
      }
    },
  };
}

const api = process.env.PORTAL_API_URL ?? "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react(), tailwindcss(), swaggerUi()],
  build: {
    outDir: "../src/portal/web",
    emptyOutDir: true,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      "/api": { target: api, changeOrigin: false },
      "/ws": { target: api.replace(/^http/, "ws"), ws: true },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
