import { defineConfig } from 'vite';

// Preact's automatic JSX runtime through Vite's own transform: no Babel plugin needed.
export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Hashed file names under assets/: the gateway caches exactly that folder immutably.
    assetsDir: 'assets',
    sourcemap: false,
  },
  server: {
    // `npm run dev -w @instantpost/web` against a running `npm start`: same origin for /v1 and /media.
    proxy: { '/v1': 'http://127.0.0.1:8080', '/media': 'http://127.0.0.1:8080' },
  },
});
