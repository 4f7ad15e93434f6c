// The live view's tracker on scripted box sequences (run by tests/test_tracker.py with `node --test`).
// Parameters come from web/face_pipeline.json, the file the recognizer reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { FaceTracker, DetectionCadence, ReadingCadence } from '../../web/lib/tracker.js';
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

const labels = (labelMaxAgeMs) => new ReadingCadence({ ...CFG.cadence, labelMaxAgeMs });

/** Run `frames` frames of `ms` each over faces `ids`, the recognizer's work `work(readCount)` ms a frame. */
function runReadings(rc, ids, frames, ms, work) {
  const perFrame = [], last = new Map();
  for (let k = 0; k < frames; k++) {
    const t = ms * k, chosen = rc.choose(ids, t);
    for (const id of chosen) { rc.read(id, t); last.set(id, t); }
    rc.record(work(chosen.size), ids.length - chosen.size, chosen.size ? 20 : null);
    perFrame.push({ t, n: chosen.size, ages: ids.map((id) => t - last.get(id)) });
  }
  return perFrame;
}

test('labels: every face is read on every frame with labelMaxAgeMs 0, or while the work fits the frame budget', () => {
  for (const age of [0, 200]) {
    // 10 ms of work a frame: well within 1000 / targetFps
    const frames = runReadings(labels(age), [1, 2, 3], 30, FRAME, () => 10);
    assert.ok(frames.every((f) => f.n === 3), `labelMaxAgeMs ${age}`);
  }
  // too slow, but labelMaxAgeMs 0: still every face
  assert.ok(runReadings(labels(0), [1, 2, 3], 30, 100, (n) => 20 + 20 * n).every((f) => f.n === 3));
});

test('labels: on a slow device a face is read when new, then once its label is labelMaxAgeMs old', () => {
  const rc = labels(200);
  const frames = runReadings(rc, [7], 60, 40, (n) => 15 + 20 * n); // 35 ms with a reading > 33 ms budget
  const settle = 2 / CFG.cadence.timingSmoothing; // frames before the averages decide
  assert.ok(frames.slice(0, settle).every((f) => f.n === 1)); // new, then read on every frame until they settle
  const reads = frames.filter((f) => f.n).map((f) => f.t).slice(settle - 1);
  const gaps = reads.slice(1).map((t, i) => t - reads[i]);
  assert.ok(gaps.length >= 5 && gaps.every((g) => g === 200), JSON.stringify(gaps)); // then every 200 ms
  assert.ok(rc.spreading); // and it keeps spreading: the skipped readings count towards the work
  assert.ok(rc.choose([7, 8], 40 * 60).has(8)); // a new face is read on its first frame
});

test('labels: faces due together are spread over frames, oldest first, each read about once per labelMaxAgeMs', () => {
  const rc = labels(100);
  const frames = runReadings(rc, [1, 2, 3], 60, 25, (n) => 30 + 20 * n);
  assert.equal(frames[0].n, 3); // all new
  const settled = frames.slice(2 / CFG.cadence.timingSmoothing);
  assert.ok(settled.every((f) => f.n <= 1), JSON.stringify(settled.map((f) => f.n))); // 3 * 25 / 100 -> 1 a frame
  assert.ok(settled.every((f) => Math.max(...f.ages) <= 150), JSON.stringify(settled.map((f) => f.ages)));
  rc.retain([2]);
  assert.deepEqual([...rc.readAt.keys()], [2]); // ended tracks are forgotten
});
