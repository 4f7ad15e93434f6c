// npm always packs the README.md at the package root, and here that is the whole project's README
// (training, Flask, benchmarks). `npm pack` / `npm publish` run this before packing
// (use-package-readme: the project README steps aside, npm/README.md takes its place) and after
// (restore). An interrupted pack leaves the project README in npm/.README.project.md; the next
// run of either command puts it back first, so it is never lost.
import { copyFileSync, existsSync, renameSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const at = (p) => fileURLToPath(new URL(p, import.meta.url));
const ROOT_README = at('../README.md');
const SAVED = at('.README.project.md');
const PACKAGE_README = at('README.md');

function restore() {
  if (existsSync(SAVED)) renameSync(SAVED, ROOT_README);
}

const command = process.argv[2];
restore();
if (command === 'use-package-readme') {
  renameSync(ROOT_README, SAVED);
  copyFileSync(PACKAGE_README, ROOT_README);
} else if (command !== 'restore') {
  console.error('usage: node npm/readme.mjs use-package-readme | restore');
  process.exit(2);
}
