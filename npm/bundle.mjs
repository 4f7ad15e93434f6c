// The page's own modules (web/js, web/lib, the schemas) as one file, web/dist/app.js, with esbuild
// (issue 24: on a 2-core machine the ~50 small module requests kept the page from taking a click for
// a few hundred ms; bench/bench_bytes.py). TF.js stays in its own files (the import map's ./vendor/
// entries are left external). The few modules the page imports on first use (the parity check, the
// photo policy: 6 KB) come inside it: a chunk of their own would cost the first load a round trip.
//
//   node npm/bundle.mjs [--web DIR]       (npm run build; `make run` and `make setup` run it)
//
// DIR/dist/bundle.json records the sha256 of every source that went in and of every file written:
// server.py serves the bundle only while all of them still match (fer_browser/bundle.py), and the
// modules one by one otherwise, so an edited source is never hidden behind a stale bundle.
// Written to a temporary folder and renamed into place whole.
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const FORMAT = 'fer-bundle/1';
const ENTRY = 'js/app.js';

function usage(message) {
  console.error(`${message}\nusage: node npm/bundle.mjs [--web DIR]   (DIR: the page's folder, default web/)`);
  process.exit(2);
}

const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  console.log('usage: node npm/bundle.mjs [--web DIR]\n\nBundles DIR/js/app.js and what it imports into DIR/dist/ (default DIR: web/).');
  process.exit(0);
}
let web = fileURLToPath(new URL('../web/', import.meta.url));
if (args.length === 2 && args[0] === '--web') web = path.resolve(args[1]);
else if (args.length) usage(`unknown arguments: ${args.join(' ')}`);
if (!existsSync(path.join(web, ENTRY))) usage(`${path.join(web, ENTRY)} not found`);

// The import map in index.html is the one list of bare names: those it maps into the page's own
// folders are bundled from there, the rest (TF.js under ./vendor/, Node built-ins) stay imports.
const html = readFileSync(path.join(web, 'index.html'), 'utf8');
const mapText = html.match(/<script type="importmap">([\s\S]*?)<\/script>/)?.[1];
if (!mapText) usage('index.html has no import map');
const imports = JSON.parse(mapText).imports;
const own = (target) => target.startsWith('./js/') || target.startsWith('./lib/');
const alias = Object.fromEntries(Object.entries(imports).filter(([, t]) => own(t)).map(([k, t]) => [k, t]));
const external = Object.keys(imports).filter((k) => !own(imports[k]));

// A JSON module's top-level "$schema" names the JSON Schema dialect (https://json-schema.org/...): an
// annotation the validators skip (web/lib/schema.js), never fetched. Left out of the bundle, so the page's
// code names no outside address at all (tests/test_bundle.py checks it).
const dropSchemaDialect = {
  name: 'drop-schema-dialect',
  setup(build) {
    build.onLoad({ filter: /\.json$/ }, ({ path: file }) => {
      const { $schema, ...rest } = JSON.parse(readFileSync(file, 'utf8'));
      return { contents: JSON.stringify(rest), loader: 'json' };
    });
  },
};

const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex');
const tmp = mkdtempSync(path.join(web, '.dist-'));
try {
  const result = await esbuild.build({
    absWorkingDir: web,
    entryPoints: [ENTRY],
    bundle: true,
    format: 'esm',
    minify: true,
    sourcemap: 'linked', // DevTools maps it back to web/js and web/lib, fetched from the server
    sourcesContent: false,
    alias,
    external,
    metafile: true,
    plugins: [dropSchemaDialect],
    outdir: tmp,
    logLevel: 'warning',
  });
  // index.html too: its import map decided what was bundled
  const inputs = [...Object.keys(result.metafile.inputs), 'index.html'].sort();
  const bad = inputs.filter((p) => p.startsWith('..') || path.isAbsolute(p));
  if (bad.length) throw new Error(`inputs outside ${web}: ${bad.join(', ')}`);
  const files = {};
  for (const out of Object.keys(result.metafile.outputs).sort()) {
    const name = path.relative(tmp, path.join(web, out)).split(path.sep).join('/');
    files[name] = sha256(readFileSync(path.join(tmp, name)));
  }
  const manifest = {
    format: FORMAT,
    entry: ENTRY.replace('js/', ''),
    esbuild: esbuild.version,
    inputs: Object.fromEntries(inputs.map((p) => [p, sha256(readFileSync(path.join(web, p)))])),
    files,
  };
  writeFileSync(path.join(tmp, 'bundle.json'), `${JSON.stringify(manifest, null, 1)}\n`);
  const dist = path.join(web, 'dist');
  const old = `${dist}.old-${process.pid}`;
  if (existsSync(dist)) renameSync(dist, old);
  renameSync(tmp, dist);
  rmSync(old, { recursive: true, force: true });
  const size = Object.keys(files).reduce((n, f) => n + readFileSync(path.join(dist, f)).length, 0);
  console.log(`web/dist: ${inputs.length} sources -> ${Object.keys(files).length} files, ${size.toLocaleString('en')} bytes`);
} catch (err) {
  rmSync(tmp, { recursive: true, force: true });
  console.error(`bundle failed: ${err.message}`);
  process.exit(1);
}
