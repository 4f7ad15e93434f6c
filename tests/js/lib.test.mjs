// fer-browser's pure modules (no tf, no DOM) under Node's test runner (run by tests/test_tracker.py):
// the EMA smoothing face_pipeline.json defines, the checks on face_pipeline.json and metadata.json,
// the crop geometry, where createRecognizer's default URLs point.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { EmaSmoother } from '../../web/lib/smoothing.js';
import { checkMetadata, checkOutputSize, checkPipelineConfig } from '../../web/lib/config.js';
import { cropRegion, cropSquare, iou } from '../../web/lib/geometry.js';
import { decode, makeAnchors } from '../../web/lib/blazeface.js';
import { defaultUrls } from '../../web/lib/defaults.js';

const CFG = JSON.parse(readFileSync(new URL('../../web/face_pipeline.json', import.meta.url)));
const META = JSON.parse(readFileSync(new URL('../../models/fer-default/export/metadata.json', import.meta.url)));
const near = (a, b) => a.every((x, i) => Math.abs(x - b[i]) < 1e-12);

test('EMA: a new face starts from its first reading, then alpha * new + (1 - alpha) * previous', () => {
  const a = CFG.smoothing.alpha;
  const s = new EmaSmoother(a);
  assert.deepEqual(s.update(1, [1, 0]), [1, 0]);
  assert.ok(near(s.update(1, [0, 1]), [1 - a, a]));
  assert.ok(near(s.update(1, [0, 1]), [(1 - a) ** 2, 1 - (1 - a) ** 2]));
  assert.deepEqual(s.update(2, [0.2, 0.8]), [0.2, 0.8]); // another face has its own state
});

test('EMA: alpha 1 is no smoothing; a face whose track ended starts again', () => {
  const off = new EmaSmoother(1);
  off.update(1, [1, 0]);
  assert.deepEqual(off.update(1, [0, 1]), [0, 1]);
  const s = new EmaSmoother(0.5);
  s.update(1, [1, 0]);
  s.update(2, [1, 0]);
  s.retain([2]);
  assert.deepEqual(s.update(1, [0, 1]), [0, 1]);
  assert.deepEqual(s.update(2, [0, 1]), [0.5, 0.5]);
  assert.throws(() => new EmaSmoother(0), /alpha/);
  assert.throws(() => new EmaSmoother(0.5, -1), /intervalMs/);
});

test('EMA per time: the shipped intervalMs keeps the time constant whatever the reading rate', () => {
  const a = CFG.smoothing.alpha, iv = CFG.smoothing.intervalMs;
  assert.ok(iv > 0);
  // the same 200 ms of a steady change: read every frame at 50 fps, or every 200 ms on a slow device
  const fast = new EmaSmoother(a, iv), slow = new EmaSmoother(a, iv), perReading = new EmaSmoother(a);
  for (const s of [fast, slow, perReading]) s.update(1, [1, 0], 0);
  let f, r;
  for (let t = 20; t <= 200; t += 20) { f = fast.update(1, [0, 1], t); r = perReading.update(1, [0, 1], t); }
  const sl = slow.update(1, [0, 1], 200);
  assert.ok(near(f, sl)); // one reading 200 ms later weighs what ten 20 ms apart do together
  assert.ok(Math.abs(sl[1] - (1 - (1 - a) ** (200 / iv))) < 1e-12);
  assert.ok(r[1] > 0.99 && sl[1] < r[1]); // per reading, ten readings would have gone further
  assert.ok(near(new EmaSmoother(a, iv).update(3, [0.3, 0.7]), [0.3, 0.7]));
});

test('face_pipeline.json passes its check; broken copies fail with one line naming the field', () => {
  assert.equal(checkPipelineConfig(CFG).detector.inputSize, CFG.detector.inputSize);
  const merged = checkPipelineConfig(CFG, 'x', { smoothing: { alpha: 1 } });
  assert.equal(merged.smoothing.alpha, 1);
  assert.equal(merged.smoothing.method, 'ema');
  assert.equal(CFG.smoothing.alpha, 0.4); // overrides never touch the file's object
  const broken = [
    [{ ...CFG, schema: 'fer-face-pipeline/2' }, /schema/],
    [{ ...CFG, smoothing: { method: 'window', alpha: 0.5 } }, /smoothing.method/],
    [{ ...CFG, smoothing: { method: 'ema', alpha: 0 } }, /alpha/],
    [{ ...CFG, detector: { ...CFG.detector, inputSize: '256' } }, /detector.inputSize/],
    [{ ...CFG, tracking: undefined }, /tracking must be an object, got undefined/],
    [CFG, /detector.maxFaces must be <= 100, got 1000/, { detector: { maxFaces: 1000 } }], // overrides keep the bounds
  ];
  for (const [cfg, why, overrides] of broken) {
    assert.throws(() => checkPipelineConfig(cfg, 'face_pipeline.json', overrides), (err) => why.test(err.message) && !err.message.includes('\n'));
  }
});

test('metadata.json passes its check; calibration must be a temperature in the schema\'s range; output size = classes', () => {
  assert.deepEqual(checkMetadata(META).classes, META.classes);
  const cal = (t) => ({ ...META, calibration: { ...META.calibration, temperature: t } });
  assert.equal(checkMetadata(cal(1.5)).calibration.temperature, 1.5);
  assert.throws(() => checkMetadata(cal(0)), /metadata.json: calibration.temperature must be >= 0.05, got 0/);
  const { classes, ...noClasses } = META;
  assert.ok(classes.length > 1);
  assert.throws(() => checkMetadata(noClasses), /classes is missing/);
  assert.throws(() => checkMetadata({ ...META, input: { ...META.input, channels: 3 } }), /3-channel/);
  assert.doesNotThrow(() => checkOutputSize([1, META.classes.length], META.classes, 'm'));
  assert.throws(() => checkOutputSize([1, 7], ['a', 'b'], 'tfjs/model.json'),
    /^Error: tfjs\/model.json: the model gives 7 outputs per face but metadata.json names 2 classes$/);
});

test('crop square and region follow metadata.crop', () => {
  const box = { x: 100, y: 50, width: 80, height: 60 };
  const c = cropSquare(box, META.crop);
  assert.equal(c.side, META.crop.scale * 80);
  assert.ok(Math.abs(c.x + c.side / 2 - 140) < 1e-9);
  assert.ok(Math.abs(c.y + c.side / 2 - (80 + META.crop.shift_y * c.side)) < 1e-9);
  const r = cropRegion(box, META.crop, 640, 480);
  assert.ok(r.x <= c.x && r.y <= c.y && r.x + r.width >= c.x + c.side && r.y + r.height >= c.y + c.side);
  assert.equal(cropRegion({ x: -500, y: 0, width: 50, height: 50 }, META.crop, 640, 480), null);
  assert.equal(iou(box, box), 1);
  assert.equal(iou(box, { x: 500, y: 0, width: 10, height: 10 }), 0);
});

test('detector merge: overlapping candidates merge below iouThreshold; a threshold of 1 keeps each, finite', () => {
  const anchors = makeAnchors(CFG.detector);
  const boxes = new Float32Array(anchors.length * 16), logits = new Float32Array(anchors.length).fill(-20);
  // anchors 0 and 1 share a cell: two 20-pixel candidates, the second shifted by 2 pixels
  for (const [i, dx] of [[0, 0], [1, 2]]) { boxes.set([dx, 0, 20, 20], i * 16); logits[i] = 3 - i; }
  const merged = decode(boxes, logits, anchors, CFG.detector);
  assert.equal(merged.length, 1);
  const kept = decode(boxes, logits, anchors, { ...CFG.detector, iouThreshold: 1 });
  assert.equal(kept.length, 2);
  assert.ok(kept.every((b) => [b.x, b.y, b.width, b.height].every(Number.isFinite)));
  assert.ok(kept[0].score > kept[1].score && Math.abs(kept[1].x - kept[0].x - 2 / CFG.detector.inputSize) < 1e-6);
});

test('defaultUrls: an installed package finds its files and the sibling wasm backend from its own URL', () => {
  const pkg = 'http://h/node_modules/fer-browser/';
  assert.deepEqual(defaultUrls(undefined, `${pkg}web/lib/defaults.js?v=1`), {
    filesUrl: pkg,
    modelUrl: `${pkg}models/fer-default/export/`,
    detectorUrl: `${pkg}web/face_pipeline.json`,
    detectorWeightsUrl: `${pkg}models/blazeface/blazeface.json`,
    wasmPaths: 'http://h/node_modules/@tensorflow/tfjs-backend-wasm/dist/',
  });
  // a checkout served as files: its own node_modules
  assert.equal(defaultUrls(undefined, 'http://h/repo/web/lib/defaults.js').wasmPaths,
    'http://h/repo/node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  // filesUrl overrides the base, bundled or not; the .wasm files are looked for there too
  const given = defaultUrls('http://cdn/fer', `${pkg}web/lib/defaults.js`);
  assert.equal(given.detectorWeightsUrl, 'http://cdn/fer/models/blazeface/blazeface.json');
  assert.equal(given.wasmPaths, 'http://cdn/fer/');
});

test('defaultUrls: bundled (another file name), the files are in fer-browser/ beside the page', () => {
  globalThis.location = { href: 'http://h/app/index.html' };
  try {
    const urls = defaultUrls(undefined, 'http://h/app/assets/index-1a2b.js');
    assert.equal(urls.modelUrl, 'http://h/app/fer-browser/models/fer-default/export/');
    assert.equal(urls.wasmPaths, 'http://h/app/fer-browser/');
  } finally {
    delete globalThis.location;
  }
});
