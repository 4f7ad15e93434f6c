// The live view's tracker on scripted box sequences (run by tests/test_tracker.py with `node --test`).
// Parameters come from web/face_pipeline.json, the file the recognizer reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FaceTracker, DetectionCadence } from '../../web/lib/tracker.js';
import { iou } from '../../web/lib/geometry.js';

const CFG = JSON.parse(readFileSync(new URL('../../web/face_pipeline.json', import.meta.url)));
const box = (x, y, s = 80) => ({ x, y, width: s, height: s, score: 0.9 });
const FRAME = 1000 / 30;

test('config is versioned and complete', () => {
  assert.equal(CFG.schema, 'fer-face-pipeline/1');
  for (const k of ['matchIou', 'matchDistance', 'maxMissed', 'maxMissedMs', 'velocitySmoothing', 'redetectDrift']) {
    assert.equal(typeof CFG.tracking[k], 'number', k);
  }
  for (const k of ['targetFps', 'minEvery', 'maxEvery', 'maxIntervalMs', 'timingSmoothing']) {
    assert.equal(typeof CFG.cadence[k], 'number', k);
  }
});

test('a face that appears gets one id and keeps it while it moves', () => {
  const tr = new FaceTracker(CFG.tracking);
  assert.deepEqual(tr.update([], 0), []);
  const ids = [];
  for (let k = 1; k <= 20; k++) ids.push(tr.update([box(100 + 6 * k, 50)], k * 100).map((f) => f.id));
  assert.ok(ids.every((x) => x.length === 1 && x[0] === ids[0][0]), JSON.stringify(ids));
});

test('between detections the box follows the face at its measured velocity', () => {
  const tr = new FaceTracker(CFG.tracking);
  // 300 px/s to the right, detections every 200 ms
  for (let k = 0; k <= 5; k++) tr.update([box(100 + 60 * k, 50)], 200 * k);
  const [f] = tr.predict(1100); // 100 ms after the last detection: truth x = 100 + 330
  assert.ok(Math.abs(f.box.x - 430) < 2, f.box.x);
  assert.ok(Math.abs(f.box.y - 50) < 1e-9);
  assert.ok(iou(f.box, box(430, 50)) > 0.95);
});

test('two faces that cross keep their ids', () => {
  const tr = new FaceTracker(CFG.tracking);
  // A moves right, B moves left, half a box apart in height; they pass each other at t = 1000 ms
  const at = (t) => [box(100 + 0.3 * t, 100), box(700 - 0.3 * t, 140)];
  let first = null;
  for (let t = 0; t <= 2000; t += 100) {
    const faces = tr.update(at(t), t);
    assert.equal(faces.length, 2, `t=${t}`);
    const nearest = (b) => faces.reduce((a, f) => (iou(f.box, b) > iou(a.box, b) ? f : a));
    const ids = at(t).map((b) => nearest(b).id);
    first ??= ids;
    assert.deepEqual(ids, first, `t=${t}`);
  }
  assert.notEqual(first[0], first[1]);
});

test('a face that leaves is hidden at the first miss and dropped after maxMissed', () => {
  const tr = new FaceTracker(CFG.tracking);
  tr.update([box(100, 100), box(400, 100)], 0);
  tr.update([box(100, 100), box(400, 100)], 100);
  let faces = tr.update([box(100, 100)], 200); // the second face has gone
  assert.equal(faces.length, 1);
  assert.equal(tr.tracks.length, 2, 'kept, hidden, for one miss');
  assert.ok(tr.wantsDetection(201), 'a miss asks for the detector again');
  for (let k = 1; k < CFG.tracking.maxMissed; k++) faces = tr.update([box(100, 100)], 200 + 33 * k);
  assert.equal(tr.tracks.length, 1);
  assert.equal(faces[0].id, 1);
});

test('a face missed once and found again keeps its id', () => {
  const tr = new FaceTracker(CFG.tracking);
  tr.update([box(100, 100)], 0);
  tr.update([], 100);
  const [f] = tr.update([box(104, 100)], 133);
  assert.equal(f.id, 1);
});

test('a new face gets a new id; ids are never reused', () => {
  const tr = new FaceTracker(CFG.tracking);
  tr.update([box(100, 100)], 0);
  for (let k = 1; k <= CFG.tracking.maxMissed; k++) tr.update([], 100 * k);
  assert.equal(tr.tracks.length, 0);
  const [f] = tr.update([box(100, 100)], 1000);
  assert.equal(f.id, 2);
});

test('a track unseen for longer than maxMissedMs is dropped even if maxMissed is not reached', () => {
  const tr = new FaceTracker({ ...CFG.tracking, maxMissed: 100 });
  tr.update([box(100, 100)], 0);
  tr.update([], CFG.tracking.maxMissedMs + 1);
  assert.equal(tr.tracks.length, 0);
});

test('prediction drift asks for the detector', () => {
  const tr = new FaceTracker(CFG.tracking);
  tr.update([box(100, 100)], 0);
  tr.update([box(130, 100)], 100); // 0.3 px/ms
  assert.equal(tr.wantsDetection(110), false);
  const ms = (CFG.tracking.redetectDrift * 80) / 0.3;
  assert.equal(tr.wantsDetection(100 + ms + 5), true);
});

test('cadence spreads a slow detector over enough frames to hold the target rate', () => {
  const c = new DetectionCadence(CFG.cadence);
  const budget = 1000 / CFG.cadence.targetFps;
  let t = 0, calls = 0, work = 0;
  for (let f = 0; f < 300; f++) {
    const det = c.due(t) ? 60 : null; // a 60 ms detector, 15 ms of other work per frame
    if (det !== null) calls += 1;
    c.record(t, det, 15);
    work += 15 + (det ?? 0);
    t += Math.max(FRAME, 15 + (det ?? 0));
  }
  const need = Math.ceil(60 / (budget - 15));
  assert.equal(c.every, Math.min(CFG.cadence.maxEvery, Math.max(CFG.cadence.minEvery, need)));
  assert.ok(work / 300 <= budget, `mean work per frame ${work / 300} ms`);
  assert.ok(calls <= Math.ceil(300 / need) + 1, `${calls} detector calls in 300 frames`);
  // never longer than maxIntervalMs between calls
  assert.ok(calls >= Math.floor(t / CFG.cadence.maxIntervalMs), `${calls}`);
});

test('cadence detects more often when the detector is cheap, and on demand', () => {
  const c = new DetectionCadence(CFG.cadence);
  for (let f = 0; f < 50; f++) c.record(f * FRAME, c.due(f * FRAME) ? 2 : null, 5);
  assert.equal(c.every, CFG.cadence.minEvery);
  c.record(50 * FRAME, 2, 5);
  assert.equal(c.due(50 * FRAME + 1), false);
  assert.equal(c.due(50 * FRAME + 1, true), true);
});
