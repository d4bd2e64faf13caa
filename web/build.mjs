// Builds the console: the shell (index.html) and each screen module on its own. Modules are
// ES modules that import one another only by their import-map names (`@marquee/...`), left
// external here, so any one of them can be rebuilt and replaced without the others.
import { build } from 'vite';
import { copyFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const MODULES = ['ui', 'api', 'admin', 'auth', 'browse', 'connect', 'deploy', 'desk', 'door', 'monitor', 'tickets'];
// The built-in storefront, from the listing component's source: the console runs this copy,
// never JavaScript a performance serves (a seller's listing may serve anything).
const ENTRIES = { storefront: '../functions/listing/src/storefront.js' };
const shared = { configFile: false, root, base: '/console/', logLevel: 'warn' };
const external = [/^@marquee\//];

await build({ ...shared, build: { outDir: 'dist', emptyOutDir: true, rollupOptions: { external } } });
for (const name of [...MODULES, ...Object.keys(ENTRIES)]) {
  await build({
    ...shared,
    publicDir: false,
    build: {
      outDir: 'dist/modules',
      emptyOutDir: false,
      lib: { entry: ENTRIES[name] ?? `src/modules/${name}.ts`, formats: ['es'], fileName: () => `${name}.js` },
      rollupOptions: { external },
    },
  });
}
// The door's QR decoder (where the browser has no BarcodeDetector of its own), served from here.
copyFileSync(`${root}/node_modules/zxing-wasm/dist/reader/zxing_reader.wasm`, `${root}/dist/modules/zxing_reader.wasm`);
console.log(`built the shell and ${MODULES.length + Object.keys(ENTRIES).length} modules into dist/`);
