import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';

// The renderer is built once and served by both hosts: Electron loads dist/renderer/index.html, the web host serves
// the same folder. Relative base so file:// and http:// both resolve assets; everything is bundled locally (no CDN).
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  plugins: [react()],
  build: {
    // MV_RENDERER_DIST (development only): build elsewhere, so parallel work on one checkout does not share a folder.
    outDir: process.env.MV_RENDERER_DIST ?? fileURLToPath(new URL('../dist/renderer', import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 6000,
    target: 'es2022',
  },
  worker: { format: 'es' },
});
