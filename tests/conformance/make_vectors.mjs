// Writes the golden vectors of the twin algorithms (anchors, decode + weighted merge, iou, face crop,
// tracker, EMA smoothing) into tests/conformance/*.json: hand-written inputs, expected outputs computed
// ONCE by the browser library (web/lib), the reference. Run by hand, from the repository root, only when
// a rule changes on purpose (then review the diff of the JSON files; bump VERSION, which both readers
// check, only when the files' layout changes):
//
//   node tests/conformance/make_vectors.mjs
//
// Read by tests/test_conformance.py (predict/, Python) and tests/js/conformance.test.mjs (web/lib).
import { writeFileSync } from 'node:fs';
import { decode, makeAnchors } from '../../web/lib/blazeface.js';
import { cropRegion, cropScale, cropSquare, iou } from '../../web/lib/geometry.js';
import { FaceTracker } from '../../web/lib/tracker.js';
import { EmaSmoother } from '../../web/lib/smoothing.js';

const VERSION = 1; // the layout of the files, not of the rules
const REFERENCE = 'expected outputs computed by web/lib (the browser library is the reference) with tests/conformance/make_vectors.mjs';
const write = (name, about, tolerance, cases) => {
  const doc = { version: VERSION, about, reference: REFERENCE, tolerance, cases };
  writeFileSync(new URL(name, import.meta.url), JSON.stringify(doc, null, 1) + '\n');
};
const rng = (seed) => () => { // mulberry32: the same inputs on every run
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const f32 = (a) => Array.from(Float32Array.from(a)); // the detector's outputs are float32: exact in JSON

// ---- anchors
const SMALL = { inputSize: 64, featureMaps: [{ stride: 16, anchors: 2 }, { stride: 32, anchors: 6 }] };
// `input` {width, height}, where a case has one: an input of that size instead of the inputSize square
// (the live loop keeps the frame's aspect)
const sized = (c) => (c.input ? [c.input.width, c.input.height] : []);
write('anchors.json', 'BlazeFace anchors: detector config (inputSize, featureMaps) and, where a case gives one, the input\'s {width, height} (else the inputSize square) -> anchor centres [x, y] in [0, 1] of the input, in the network\'s output order (feature map, row, column, anchor). Twins: makeAnchors (web/lib/blazeface.js), anchors (predict/detector.py).', 0,
  [
    { name: 'the shipped feature maps on a 64-pixel input', config: SMALL },
    { name: 'a size the strides do not divide: ceil(40 / 16) = 3 cells', config: { inputSize: 40, featureMaps: [{ stride: 16, anchors: 1 }, { stride: 32, anchors: 3 }] } },
    { name: 'one feature map, one anchor per cell', config: { inputSize: 32, featureMaps: [{ stride: 8, anchors: 1 }] } },
    { name: 'a 64 x 32 input (the frame\'s aspect): 4 x 2 and 2 x 1 cells', config: SMALL, input: { width: 64, height: 32 } },
    { name: 'a 32 x 48 input: taller than wide', config: SMALL, input: { width: 32, height: 48 } },
  ].map((c) => ({ ...c, expected: makeAnchors(c.config, ...sized(c)) })));

// ---- decode + weighted merge
function rawOutputs(cfg, faces, seed, [W = cfg.inputSize, H = cfg.inputSize] = []) {
  const anchors = makeAnchors(cfg, W, H), r = rng(seed);
  const boxes = new Array(anchors.length * 16).fill(0), logits = anchors.map(() => -3 - 4 * r());
  anchors.forEach(([ax, ay], i) => {
    for (const f of faces) { // candidates of this face from the anchors near it, each a little off
      if (Math.hypot(ax - f.cx, ay - f.cy) > f.reach || r() < 0.25) continue;
      const jit = () => (r() - 0.5) * f.jitter * W;
      boxes.splice(i * 16, 4, (f.cx - ax) * W + jit(), (f.cy - ay) * H + jit(), f.w * W * (1 + jit() / W), f.h * H * (1 + jit() / W));
      logits[i] = f.logit + 2 * r();
    }
  });
  return { anchors, boxes: f32(boxes), logits: f32(logits) };
}
const DET = { ...SMALL, scoreThreshold: 0.6, iouThreshold: 0.3, merge: 'weighted', maxFaces: 20 };
const TWO = [{ cx: 0.3, cy: 0.35, w: 0.3, h: 0.34, reach: 0.3, jitter: 0.04, logit: 0.5 },
  { cx: 0.72, cy: 0.6, w: 0.22, h: 0.25, reach: 0.25, jitter: 0.03, logit: 1 }];
const decodeCase = (name, config, faces, seed, edit = (x) => x, input = undefined) => {
  const raw = edit(rawOutputs(config, faces, seed, sized({ input })));
  const expected = decode(Float32Array.from(raw.boxes), Float32Array.from(raw.logits), raw.anchors, config, ...sized({ input }));
  return { name, config, ...(input && { input }), boxes: raw.boxes, logits: raw.logits, expected };
};
const zeroWidth = (raw) => { // the best-scoring candidate of all, but with width 0: skipped, not divided by
  const i = raw.logits.indexOf(Math.max(...raw.logits));
  raw.boxes[i * 16 + 2] = 0; raw.logits[i] = 9;
  return raw;
};
const twin = (raw) => { // the best candidate copied onto its cell's other anchor: IoU exactly 1
  const i = raw.logits.indexOf(Math.max(...raw.logits)), j = i ^ 1; // first map: 2 anchors a cell
  raw.boxes.splice(j * 16, 16, ...raw.boxes.slice(i * 16, i * 16 + 16)); raw.logits[j] = raw.logits[i] - 0.5;
  return raw;
};
write('decode.json', 'BlazeFace decoding and weighted merge: raw outputs (boxes: n x 16 float32 regressions in input pixels, cx cy w h + keypoints; logits: n float32) with the config\'s anchors (of the case\'s input {width, height} where it gives one, else the inputSize square) -> faces {x, y, width, height, score} in [0, 1] of the input (x of its width, y of its height), best first; each the score-weighted mean of the candidates overlapping the best by more than iouThreshold. Twins: decode (web/lib/blazeface.js), decode (predict/detector.py).', 1e-9, [
  decodeCase('two faces, each a cluster of candidates merged into one', DET, TWO, 1),
  decodeCase('iouThreshold 1 merges nothing: every candidate is a face', { ...DET, iouThreshold: 1 }, TWO, 1),
  decodeCase('identical candidates at iouThreshold 1: IoU 1 is not above the threshold, both kept', { ...DET, iouThreshold: 1, maxFaces: 100 }, TWO, 6, twin),
  decodeCase('maxFaces 1 keeps the best face only', { ...DET, maxFaces: 1 }, TWO, 1),
  decodeCase('scoreThreshold 0.9 drops the weaker candidates', { ...DET, scoreThreshold: 0.9 }, TWO, 2),
  decodeCase('a candidate of width 0 is skipped even with the best score', DET, TWO, 3, zeroWidth),
  decodeCase('three faces, one small, on a size the strides do not divide', { ...DET, inputSize: 40 },
    [...TWO, { cx: 0.8, cy: 0.15, w: 0.12, h: 0.14, reach: 0.3, jitter: 0.02, logit: 0.8 }], 4),
  decodeCase('nothing above the threshold: no face', DET, [], 5),
  decodeCase('two faces on a 64 x 32 input (the frame\'s aspect): x in its width, y in its height', DET, TWO, 7, undefined,
    { width: 64, height: 32 }),
]);

// ---- iou
const B = (x, y, width, height) => ({ x, y, width, height });
write('iou.json', 'Intersection over union of two boxes {x, y, width, height} (frame pixels): 0 when disjoint, touching or both empty. Twins: iou (web/lib/geometry.js), iou (predict/boxes.py).', 1e-12, [
  ['identical', B(10, 20, 30, 40), B(10, 20, 30, 40)],
  ['shifted by half a width', B(0, 0, 80, 80), B(40, 0, 80, 80)],
  ['diagonal overlap, fractional', B(12.5, 7.25, 33.3, 41.1), B(30.1, 20.9, 25.7, 18.2)],
  ['one inside the other', B(0, 0, 100, 100), B(25, 25, 10, 20)],
  ['touching edges', B(0, 0, 10, 10), B(10, 0, 10, 10)],
  ['disjoint', B(0, 0, 10, 10), B(50, 50, 10, 10)],
  ['negative coordinates (a face cut by the frame edge)', B(-20, -10, 60, 50), B(-5, 0, 40, 40)],
  ['both empty', B(5, 5, 0, 0), B(5, 5, 0, 0)],
  ['one empty inside the other', B(0, 0, 10, 10), B(5, 5, 0, 0)],
].map(([name, a, b]) => ({ name, a, b, expected: iou(a, b) })));

// ---- face crop
const CROP = { scale: 1.1, shift_y: -0.05 };
write('crop.json', 'The face crop: detector box + crop rule (metadata.crop scale, shift_y) -> the crop square {x, y, side} (side = scale * max(w, h), centre moved down by shift_y * side); with the model\'s input size -> k, how finely it is sampled (bilinear at k * size, then k x k average); with the frame size W x H -> the frame pixels the sampling reaches (region {x, y, width, height}, or null when the crop lies outside the frame). Twins: cropSquare, cropScale, cropRegion (web/lib/geometry.js); crop_square, crop_scale, crop_resize (predict/preprocess.py: it reads only pixels inside the region).', 1e-9, [
  ['inside the frame', B(100, 50, 80, 60), CROP, 640, 480],
  ['a tall box: the side follows the height', B(300.4, 120.7, 41.2, 57.9), CROP, 640, 480],
  ['cut by the top-left corner', B(-30, -25, 90, 90), CROP, 640, 480],
  ['cut by the bottom-right corner', B(600, 430, 70, 80), CROP, 640, 480],
  ['wholly outside the frame', B(-500, 0, 50, 50), CROP, 640, 480],
  ['just outside the right edge', B(641, 100, 40, 40), CROP, 640, 480],
  ['tiny face: k = 1', B(20, 20, 12, 12), CROP, 64, 48],
  ['k rounds half up (side / size = 1.5)', B(100, 100, 72 / 1.1, 50), CROP, 640, 480],
  ['huge face: k capped at 4', B(0, 0, 400, 420), { scale: 1.3, shift_y: 0.1 }, 640, 480],
  ['no scale, no shift', B(10.5, 20.25, 30, 30), { scale: 1, shift_y: 0 }, 100, 80],
].map(([name, box, crop, W, H]) => ({
  name, box, crop, size: 48, W, H,
  expected: { square: cropSquare(box, crop), k: cropScale(cropSquare(box, crop).side, 48), region: cropRegion(box, crop, W, H) },
})));

// ---- tracker
const SHIPPED = { matchIou: 0.3, matchDistance: 1.0, maxMissed: 2, maxMissedMs: 500, velocitySmoothing: 0.6, redetectDrift: 0.25 };
const face = (x, y, s = 80, score = 0.9) => ({ x, y, width: s, height: s, score });
const every = (n, dt, fn) => Array.from({ length: n }, (_, k) => ({ t: k * dt, detections: fn(k) }));
function trackCase(name, config, steps) {
  const tracker = new FaceTracker(config);
  const expected = steps.map((s) => {
    const wantsDetection = tracker.wantsDetection(s.t); // asked before the step, as the live loop asks it
    const tracks = s.detections ? tracker.update(s.detections, s.t) : tracker.predict(s.t);
    return { wantsDetection, tracks: tracks.map(({ id, box, score }) => ({ id, box, score })) };
  });
  return { name, config, steps, expected };
}
write('tracker.json', 'The face tracker: a tracking config (face_pipeline.json\'s "tracking") and steps at times t (ms), each either a detector run ("detections": boxes {x, y, width, height, score}; -> update(detections, t)) or a frame between runs (no "detections"; -> predict(t)) -> per step wantsDetection(t), asked before the step, and the tracks shown after it [{id, box, score}], in track order; ids count from 1. The browser\'s tracker (web/lib/tracker.js FaceTracker) is the reference; predict/tracking.py FaceTracker must give the same ids, boxes and order.', 1e-9, [
  trackCase('slow drift: 2 px a frame, one id', SHIPPED, every(10, 33, (k) => [face(100 + 2 * k, 50 + k)])),
  trackCase('fast motion: 50 px a frame (IoU 0.23) matched by centre distance, then by velocity; 100 px a frame followed by prediction', SHIPPED, [
    ...every(5, 33, (k) => [face(40 + 50 * k, 100, 80, 0.8 + 0.02 * k)]),
    ...every(4, 33, (k) => [face(290 + 100 * k, 100 + 10 * k)]).map((s) => ({ ...s, t: s.t + 165 })),
  ]),
  trackCase('a jump beyond matchDistance widths before any velocity: a new face, the old one missed', SHIPPED, [
    { t: 0, detections: [face(100, 100)] }, { t: 33, detections: [face(190, 100)] }, { t: 66, detections: [face(192, 100)] },
  ]),
  trackCase('two faces crossing at 12 px a frame keep their ids', SHIPPED,
    every(30, 33, (k) => [face(100 + 12 * k, 200, 80, 0.95), face(420 - 12 * k, 210, 76, 0.85)])),
  trackCase('two faces crossing fast (30 px a frame), the detector listing them in either order', SHIPPED,
    every(16, 40, (k) => { const a = face(60 + 30 * k, 150), b = face(500 - 30 * k, 160, 84); return k % 2 ? [b, a] : [a, b]; })),
  trackCase('timed misses: a miss 500 ms after the last sighting keeps the track (<=), 600 ms drops it although maxMissed allows one miss', SHIPPED, [
    { t: 0, detections: [face(100, 100), face(400, 100)] },
    { t: 100, detections: [face(104, 100), face(404, 100)] },
    { t: 600, detections: [face(408, 100)] }, // face 1 unseen for 500 ms: hidden, kept
    { t: 633, detections: [face(110, 100), face(410, 100)] }, // back: the same id, velocity reset
    { t: 1233, detections: [face(414, 100)] }, // face 1 unseen for 600 ms: dropped
    { t: 1266, detections: [face(112, 100), face(416, 100)] }, // a new id
  ]),
  trackCase('maxMissed counts misses in a row; maxMissedMs the time since the last sighting', { ...SHIPPED, maxMissed: 4, maxMissedMs: 300 }, [
    { t: 0, detections: [face(100, 100)] }, { t: 100, detections: [] }, { t: 200, detections: [] },
    { t: 300, detections: [] }, { t: 350, detections: [face(100, 100)] }, // 3 misses, 350 ms: kept
    { t: 400, detections: [] }, { t: 500, detections: [] }, { t: 600, detections: [] },
    { t: 700, detections: [] }, // 4th miss: dropped
    { t: 733, detections: [face(100, 100)] },
  ]),
  trackCase('re-detection: prediction between detector runs, a detection wanted once the drift passes redetectDrift widths or a face is missed', SHIPPED, [
    { t: 0, detections: [face(100, 100)] }, { t: 100, detections: [face(109, 103)] },
    { t: 133 }, { t: 200 }, { t: 300 }, { t: 340 }, { t: 400 }, // predicted along the velocity
    { t: 433, detections: [face(140, 113)] }, { t: 466 },
    { t: 500, detections: [] }, { t: 533 }, // missed: hidden, a detection wanted
    { t: 566, detections: [face(146, 115)] }, { t: 600 }, { t: 700 }, // found again: velocity reset, no drift
  ]),
  trackCase('a face that changes size by more than 1.5x nearby is a new face', SHIPPED, [
    { t: 0, detections: [face(100, 100, 60)] }, { t: 33, detections: [face(130, 100, 100)] },
  ]),
  trackCase('matchIou 0.9 and matchDistance 0.05: an 8 px move on 80 px is a new face', { ...SHIPPED, matchIou: 0.9, matchDistance: 0.05 }, [
    { t: 0, detections: [face(0, 50)] }, { t: 33, detections: [face(8, 50)] }, { t: 66, detections: [face(8.5, 50)] },
  ]),
  trackCase('velocitySmoothing 0.2 and redetectDrift 0.1: a slower-changing velocity, detections wanted sooner', { ...SHIPPED, velocitySmoothing: 0.2, redetectDrift: 0.1 }, [
    ...every(4, 50, (k) => [face(100 + 5 * k * k, 80)]), { t: 170 }, { t: 190 }, { t: 230 },
    { t: 250, detections: [face(185, 80)] }, { t: 260 },
  ]),
  trackCase('two faces, one detection between them: the closer prediction wins, the other is missed', SHIPPED, [
    { t: 0, detections: [face(100, 100), face(170, 100)] }, { t: 33, detections: [face(110, 100)] },
    { t: 66, detections: [face(110, 100), face(172, 100)] },
  ]),
]);

// ---- EMA smoothing
const P = rng(7);
const probs = (n) => { const p = Array.from({ length: n }, () => P() + 1e-3), s = p.reduce((a, b) => a + b); return p.map((v) => v / s); };
function emaCase(name, alpha, ops, intervalMs = 0) {
  const s = new EmaSmoother(alpha, intervalMs);
  const expected = ops.map((op) => (op.retain ? (s.retain(op.retain), null) : s.update(op.id, op.probs, op.t)));
  return { name, alpha, intervalMs, ops, expected };
}
const seq = (ids, n = 7) => ids.map((id) => ({ id, probs: probs(n) }));
const timed = (steps, n = 7) => steps.map(([id, t]) => ({ id, t, probs: probs(n) }));
write('ema.json', 'Per-face EMA smoothing: alpha, intervalMs and a list of operations, update(id, probs, t) -> the smoothed probabilities (w * new + (1 - w) * previous, w = alpha, or with intervalMs > 0 w = 1 - (1 - alpha)^(dt / intervalMs) for a reading dt > 0 ms after the face\'s previous one; a new id starts from its first reading) or retain(ids) -> null (forget every other id; it starts afresh). Twins: EmaSmoother (web/lib/smoothing.js, predict/tracking.py).', 1e-12, [
  emaCase('per time: one reading a frame at 30 fps is alpha per reading', 0.4, timed([[1, 0], [1, 33.3], [1, 66.6], [1, 99.9]]), 33.3),
  emaCase('per time: readings 200 ms apart (a slow device\'s cadence) weigh more each', 0.4, timed([[1, 0], [1, 200], [1, 400], [1, 600]]), 33.3),
  emaCase('per time: uneven gaps, two faces, a repeated instant and no time keep alpha', 0.4,
    [...timed([[1, 0], [2, 10], [1, 20], [2, 90], [1, 20], [2, 500]]), ...seq([1]), ...timed([[1, 530]])], 33.3),
  emaCase('per time: retain forgets a face\'s time too', 0.3, [...timed([[1, 0], [2, 5], [1, 40]]), { retain: [1] }, ...timed([[2, 400], [2, 440]])], 40),
  emaCase('one face, the shipped alpha 0.4', 0.4, seq([1, 1, 1, 1, 1, 1])),
  emaCase('two faces interleaved keep separate averages', 0.4, seq([1, 2, 2, 1, 1, 2, 1])),
  emaCase('retain forgets a face: it starts afresh', 0.3, [...seq([1, 2, 1]), { retain: [1] }, ...seq([2, 1, 2])]),
  emaCase('alpha 1: no smoothing', 1, seq([3, 3, 3], 3)),
  emaCase('alpha 0.05: slow', 0.05, seq([1, 1, 1, 1], 2)),
]);
