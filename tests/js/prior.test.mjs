// The prior correction in JS (web/lib/prior.js) against the golden vectors Python reproduces too
// (tests/conformance/prior_correction.json; run by tests/test_prior.py), and the metadata check of "prior".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { adjustProbabilities, checkPriorStrength } from '../../web/lib/prior.js';
import { checkMetadata } from '../../web/lib/config.js';

const GOLDEN = JSON.parse(readFileSync(new URL('../conformance/prior_correction.json', import.meta.url)));
const META = JSON.parse(readFileSync(new URL('../../models/fer-default/export/metadata.json', import.meta.url)));

test('every golden vector: z = log p / T - tau log prior, softmax(z)', () => {
  assert.ok(GOLDEN.cases.length >= 5);
  for (const c of GOLDEN.cases) {
    const got = adjustProbabilities(c.log_probs, c.temperature, c.prior, c.strength);
    assert.equal(got.length, c.expected.length, c.name);
    got.forEach((v, k) => assert.ok(Math.abs(v - c.expected[k]) <= GOLDEN.tolerance, `${c.name}: class ${k}: ${v} vs ${c.expected[k]}`));
  }
});

const prior = (p) => ({ ...META, prior: { version: 1, probabilities: [0.4, 0.3, 0.1, 0.1, 0.05, 0.03, 0.02], strength: 0.5, source: 'test', ...p } });

test('a valid prior passes; each broken field is refused with one line naming it', () => {
  assert.equal(checkMetadata(prior({})).prior.strength, 0.5);
  const bad = [
    [{ version: 2 }, /prior.version must be 1, got 2/],
    [{ probabilities: [0.5, 0.5] }, /prior.probabilities has 2 entries, classes has 7/],
    [{ probabilities: [0.4, 0.3, 0.1, 0.1, 0.05, 0.05, 0] }, /prior.probabilities\[6\] must be > 0/],
    [{ probabilities: [0.4, 0.3, 0.1, 0.1, 0.05, 0.03, NaN] }, /prior.probabilities\[6\] must be a number, got NaN/],
    [{ probabilities: [0.4, 0.3, 0.1, 0.1, 0.05, 0.03, 0.03] }, /sum to 1/],
    [{ strength: 2.5 }, /prior.strength must be <= 2, got 2.5/],
    [{ strength: '1' }, /prior.strength must be a number, got "1"/],
  ];
  for (const [change, message] of bad) {
    assert.throws(() => checkMetadata(prior(change), 'm.json'), (err) => message.test(err.message) && !err.message.includes('\n') && err.message.startsWith('m.json: '));
  }
});

test('prior strength: [0, 2] only, and 0 for a model without a prior', () => {
  assert.equal(checkPriorStrength(0.75, true), 0.75);
  assert.equal(checkPriorStrength(0, false), 0);
  assert.throws(() => checkPriorStrength(-0.1, true), /\[0, 2\]/);
  assert.throws(() => checkPriorStrength(Number.NaN, true), /\[0, 2\]/);
  assert.throws(() => checkPriorStrength(0.5, false), /no prior/);
});
