// web/lib/profile.js: reads the Python-made fixture (tests/conformance/profile.json) and refuses bad
// profiles with the messages fer_browser/profile.py gives. Run by tests/test_profile.py, which also
// swaps profiles between the two (tests/js/profile_exchange.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fitHead } from '../../web/lib/adaptation.js';
import { MAX_BYTES, ProfileError, checkProfile, makeProfile, parseProfile, profileProbabilities } from '../../web/lib/profile.js';

const ROOT = new URL('../../', import.meta.url);
const META = JSON.parse(readFileSync(new URL('models/fer-default/export/metadata.json', ROOT), 'utf8'));
const TEXT = readFileSync(new URL('tests/conformance/profile.json', ROOT), 'utf8');
const fixture = () => JSON.parse(TEXT);

function refuses(fn, want) {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof ProfileError, String(err));
    assert.ok(err.message.includes(want) && !err.message.includes('\n'), `got "${err.message}", want "${want}"`);
    return true;
  });
}

test('the Python-made fixture is a valid profile; hidden classes get 0', () => {
  const profile = parseProfile(TEXT, META, 'p.json');
  const d = profile.head.center.length;
  const p = profileProbabilities(profile, new Array(d).fill(0.5), META.classes.map(() => -Math.log(7)));
  assert.equal(p.length, 8);
  assert.equal(p[profile.classes.indexOf('disgust')], 0);
  assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  refuses(() => profileProbabilities(profile, [1, 2], META.classes), 'the profile takes 192 embedding values');
});

test('a profile for another model is refused naming both digests', () => {
  refuses(() => checkProfile(fixture(), { ...META, weights_sha256: 'ab'.repeat(32) }, 'p.json'),
    `p.json: made for model ${META.weights_sha256.slice(0, 12)}, this model is abababababab`);
});

test('unknown versions, NaN, inconsistent sizes and hidden classes get the messages Python gives', () => {
  const cases = [
    [(d) => { d.schema = 'fer-profile/2'; }, 'p.json: not a profile this version can read (schema "fer-profile/2"; it reads fer-profile/1)'],
    [(d) => { d.head.weights[0][0] = NaN; }, 'head.weights[0][0] must be a number, got NaN'],
    [(d) => { d.counts.pop(); }, 'counts has 7 entries, classes has 8'],
    [(d) => { d.head.bias.push(0); }, 'head.bias has 9 entries, classes has 8'],
    [(d) => { d.hidden = d.classes.slice(1); }, 'hidden leaves 1 of 8 classes visible; at least 2 must stay'],
    [(d) => { d.classes[7] = 'fear'; }, 'classes[7] "fear" is a model class'],
  ];
  for (const [edit, want] of cases) {
    const doc = fixture();
    edit(doc);
    refuses(() => checkProfile(doc, META, 'p.json'), want);
  }
  refuses(() => checkProfile(fixture(), { ...META, model: { embedding: { size: 64 } } }, 'p.json'),
    'the head takes 192 embedding values, the model gives 64');
});

test('text over the size cap is refused before parsing; so is text that is not JSON', () => {
  refuses(() => parseProfile(' '.repeat(MAX_BYTES + 1), META, 'big.json'), 'big.json: larger than a profile can be (8 MiB)');
  refuses(() => parseProfile('{not json', META, 'x.json'), 'x.json: not JSON (');
});

test('makeProfile: the page fits, stamps and checks a profile; a custom class named like a model class is refused', () => {
  const d = META.model.embedding.size; // the shipped model's
  const e = [[1, 0, 0.5], [0.9, 0.1, 0.4], [0, 1, 0.2], [0.1, 0.8, 0.3]].map((r) => Array.from({ length: d }, (_, j) => r[j % 3]));
  const lp = e.map(() => META.classes.map(() => -Math.log(7)));
  const head = fitHead(e, lp, [0, 0, 7, 7], 8, META.prior.probabilities);
  const profile = makeProfile(head, META, ['wink']);
  assert.deepEqual(profile.classes, [...META.classes, 'wink']);
  assert.match(profile.created, /^\d{4}-\d{2}-\d{2}T/);
  refuses(() => makeProfile(head, META, ['happiness']), 'classes[7] "happiness" is a model class');
});
