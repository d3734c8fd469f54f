import { defineConfig } from 'vite';

// The build goes straight into the Go package that embeds it
// (server/review/dist), under /review/ where vidgate serves it.
export default defineConfig({
  base: '/review/',
  build: {
    outDir: '../../server/review/dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    modulePreload: { polyfill: false },
    sourcemap: false,
    target: 'es2022',
  },
  oxc: {
    jsx: { runtime: 'automatic', importSource: 'preact' },
  },
  server: {
    proxy: {
      '/graphql': { target: 'http://127.0.0.1:8080', ws: true },
      '/files': 'http://127.0.0.1:8080',
    },
  },
});
