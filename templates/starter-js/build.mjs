// Builds src/storefront.js into storefront.wasm, a component of Marquee's `listing` world.
//
// ComponentizeJS embeds a JavaScript engine that implements one exact WASI 0.2 release
// (ENGINE_WASI); the component must export wasi:http/incoming-handler at that version. WASI
// 0.2 releases differ only by additions marked @since, and Marquee links any 0.2 release, so
// the build writes a view of Marquee's WIT (../../wit) at the engine's version, leaving out
// what came later.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { componentize } from '@bytecodealliance/componentize-js';

const ENGINE_WASI = [0, 2, 10];
const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, '..', '..', 'wit');
const view = join(here, 'build', 'wit');

const later = (version) => {
  const parts = version.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    if (parts[i] !== ENGINE_WASI[i]) return parts[i] > ENGINE_WASI[i];
  }
  return false;
};

// `wasi:http/types@0.2.12` and `package wasi:http@0.2.12` alike move to the engine's version.
function atEngineVersion(text) {
  const lines = text.replace(/(wasi:[a-z-]+(?:\/[a-z-]+)?)@0\.2\.\d+/g, `$1@${ENGINE_WASI.join('.')}`).split('\n');
  const kept = [];
  for (let i = 0; i < lines.length; i++) {
    const since = lines[i].match(/^\s*@since\(version = (\d+\.\d+\.\d+)\)\s*$/);
    if (since && later(since[1]) && /^\s*[a-z-]+: func\(.*\);\s*$/.test(lines[i + 1] ?? '')) {
      i++; // the annotated function, one line
      continue;
    }
    kept.push(lines[i]);
  }
  return kept.join('\n');
}

await rm(view, { recursive: true, force: true });
for (const dir of ['', 'deps']) {
  await mkdir(join(view, dir), { recursive: true });
  for (const name of await readdir(join(source, dir))) {
    if (!name.endsWith('.wit')) continue;
    const text = await readFile(join(source, dir, name), 'utf8');
    await writeFile(join(view, dir, name), atEngineVersion(text));
  }
}

const { component } = await componentize({
  sourcePath: join(here, 'src', 'storefront.js'),
  witPath: view,
  worldName: 'listing',
  // No outgoing fetch(): a listing component answers from the platform's data only.
  disableFeatures: ['http'],
});
const out = join(here, 'storefront.wasm');
await writeFile(out, component);
console.log(`built ${out} (${component.length} bytes)`);
