// The golden cases of tests/conformance/schema_cases.json through web/lib/schema.js (run by
// tests/test_schema.py, which runs the same cases through fer_browser/schema.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { validate, SchemaError } from '../../web/lib/schema.js';

const ROOT = new URL('../../', import.meta.url);
const readJson = (rel) => JSON.parse(readFileSync(new URL(rel, ROOT), 'utf8'));
const GOLDEN = readJson('tests/conformance/schema_cases.json');
const NUMBERS = { NaN, Infinity, '-Infinity': -Infinity };

/** The file's stand-ins ({$number}, {$names}) made real, recursively. */
function decode(v) {
  if (Array.isArray(v)) return v.map(decode);
  if (v === null || typeof v !== 'object') return v;
  if ('$number' in v) return NUMBERS[v.$number];
  if ('$names' in v) return Array.from({ length: v.$names }, (_, i) => `c${i}`);
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, decode(x)]));
}

/** [parent, key] of a dotted path ("a.b.3": list index 3). */
function locate(doc, path) {
  const keys = path.split('.');
  const last = keys.pop();
  return [keys.reduce((node, k) => node[/^\d+$/.test(k) ? Number(k) : k], doc), /^\d+$/.test(last) ? Number(last) : last];
}

export function documentOf(c) {
  if ('document' in c) return decode(c.document);
  const doc = readJson(GOLDEN.bases[c.contract]);
  for (const [path, value] of Object.entries(c.set ?? {})) { const [p, k] = locate(doc, path); p[k] = decode(value); }
  for (const path of c.delete ?? []) { const [p, k] = locate(doc, path); delete p[k]; }
  return doc;
}

test('every golden case gets its verdict and its message from web/lib/schema.js', () => {
  assert.ok(GOLDEN.cases.length > 50);
  for (const c of GOLDEN.cases) {
    const doc = documentOf(c);
    if (c.valid) {
      assert.doesNotThrow(() => validate(doc, c.contract, 'x.json'), c.name);
      continue;
    }
    assert.throws(() => validate(doc, c.contract, 'x.json'), (err) => {
      assert.ok(err instanceof SchemaError, `${c.name}: ${err}`);
      assert.ok(err.message.startsWith('x.json: ') && err.message.includes(c.error) && !err.message.includes('\n'),
        `${c.name}: got "${err.message}", want "${c.error}"`);
      return true;
    }, c.name);
  }
});
