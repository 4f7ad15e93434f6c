// web/lib/adaptation.js against tests/conformance/adaptation.json (computed by fer_browser/adaptation.py):
// the same head, the same probabilities, the same refusals. Run by tests/test_adaptation.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ADAPTATION, AdaptationError, fitHead, headProbabilities } from '../../web/lib/adaptation.js';

const doc = JSON.parse(readFileSync(new URL('../conformance/adaptation.json', import.meta.url)));

function close(got, want, tol, where) {
  if (Array.isArray(want)) {
    assert.equal(got.length, want.length, where);
    want.forEach((w, i) => close(got[i], w, tol, `${where}[${i}]`));
  } else {
    assert.ok(Math.abs(got - want) <= tol, `${where}: ${got} vs ${want}`);
  }
}

test('the vectors were made with the settings in web/adaptation.json', () => {
  assert.deepEqual(doc.settings, ADAPTATION.fit);
});

for (const c of doc.cases) {
  test(c.name, () => {
    const fit = () => fitHead(c.embeddings, c.log_probs, c.labels, c.n_classes, c.prior);
    if (c.error) {
      assert.throws(fit, (err) => err instanceof AdaptationError && err.message === c.error);
      return;
    }
    const head = fit();
    for (const key of ['weights', 'bias', 'center', 'scale']) close(head[key], c.head[key], doc.tolerance, key);
    assert.deepEqual(head.counts, c.head.counts);
    c.test_embeddings.forEach((e, i) => close(headProbabilities(head, e, c.test_log_probs[i], c.hidden),
      c.test_probabilities[i], doc.tolerance, `probabilities[${i}]`));
  });
}
