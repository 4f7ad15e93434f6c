// The browser library (web/lib) against the golden vectors of tests/conformance/ (anchors, decode,
// iou, crop, tracker, ema), which Python's twins (predict/) read too in tests/test_conformance.py.
// Run by that file with `node --test`. The vectors were computed from this library by
// tests/conformance/make_vectors.mjs: a failure here means a JS rule changed since.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decode, makeAnchors } from '../../web/lib/blazeface.js';
import { cropRegion, cropScale, cropSquare, iou } from '../../web/lib/geometry.js';
import { FaceTracker } from '../../web/lib/tracker.js';
import { EmaSmoother } from '../../web/lib/smoothing.js';

const load = (name) => JSON.parse(readFileSync(new URL(`../conformance/${name}.json`, import.meta.url)));

/** Deep comparison with numbers equal within tol: same keys, same lengths, same nulls. */
function close(got, want, tol, where) {
  if (typeof want === 'number') {
    assert.equal(typeof got, 'number', where);
    assert.ok(Math.abs(got - want) <= tol, `${where}: ${got} vs ${want}`);
  } else if (want === null || typeof want !== 'object') {
    assert.equal(got, want, where);
  } else {
    assert.ok(got !== null && typeof got === 'object', `${where}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`);
    assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), where);
    for (const k of Object.keys(want)) close(got[k], want[k], tol, `${where}.${k}`);
  }
}

function each(name, run, minCases) {
  const doc = load(name);
  assert.equal(doc.version, 1, name);
  assert.ok(doc.cases.length >= minCases, `${name}: ${doc.cases.length} cases`);
  for (const c of doc.cases) close(run(c), c.expected, doc.tolerance, `${name}: ${c.name}`);
}

// a case's `input` {width, height}: an input of that size, not the inputSize square
const sized = (c) => (c.input ? [c.input.width, c.input.height] : []);

test('anchors', () => each('anchors', (c) => makeAnchors(c.config, ...sized(c)), 5));

test('decode and weighted merge', () => each('decode', (c) =>
  decode(Float32Array.from(c.boxes), Float32Array.from(c.logits), makeAnchors(c.config, ...sized(c)), c.config, ...sized(c)), 7));

test('iou, both argument orders', () => each('iou', (c) => {
  close(iou(c.b, c.a), c.expected, 1e-12, `iou symmetric: ${c.name}`);
  return iou(c.a, c.b);
}, 8));

test('crop square, sampling scale and region', () => each('crop', (c) => {
  const square = cropSquare(c.box, c.crop);
  return { square, k: cropScale(square.side, c.size), region: cropRegion(c.box, c.crop, c.W, c.H) };
}, 8));

test('tracker', () => each('tracker', (c) => {
  const tracker = new FaceTracker(c.config);
  return c.steps.map((s) => {
    const wantsDetection = tracker.wantsDetection(s.t);
    const tracks = s.detections ? tracker.update(s.detections, s.t) : tracker.predict(s.t);
    return { wantsDetection, tracks: tracks.map(({ id, box, score }) => ({ id, box, score })) };
  });
}, 10));

test('ema smoothing', () => each('ema', (c) => {
  const s = new EmaSmoother(c.alpha, c.intervalMs);
  return c.ops.map((op) => (op.retain ? (s.retain(op.retain), null) : s.update(op.id, op.probs, op.t)));
}, 4));
