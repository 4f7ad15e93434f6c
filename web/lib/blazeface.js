// BlazeFace's output decoding: anchors and the weighted merge of overlapping candidates. Pure
// functions (no tf, no DOM); every number comes from the "detector" section of face_pipeline.json,
// which predict/ (Python) reads too.
import { iou } from './geometry.js';

/**
 * @typedef {object} DetectorConfig  face_pipeline.json's "detector"
 * @property {number} inputSize  the model sees an inputSize x inputSize RGB square
 * @property {[number, number]} inputRange  pixel values 0..255 are mapped linearly onto this range
 * @property {{stride: number, anchors: number, boxes: string, scores: string}[]} featureMaps
 * @property {number} scoreThreshold  sigmoid(logit) needed to report a face
 * @property {number} iouThreshold  candidates overlapping more than this are one face
 * @property {'weighted'} merge
 * @property {number} maxFaces
 * @property {number} minSize  faces smaller than this (frame pixels) are ignored
 */

/**
 * Anchor centres in [0,1] of the input, in the model's output order: every cell of every feature map
 * holds `anchors` anchors centred at ((col+0.5)/cols, (row+0.5)/rows). The input is the inputSize
 * square unless `width` x `height` is given (the live loop's input keeps the frame's aspect).
 * @param {DetectorConfig} cfg
 * @param {number} [width]
 * @param {number} [height]
 * @returns {[number, number][]}
 */
export function makeAnchors(cfg, width = cfg.inputSize, height = cfg.inputSize) {
  const anchors = [];
  for (const { stride, anchors: perCell } of cfg.featureMaps) {
    const cols = Math.ceil(width / stride), rows = Math.ceil(height / stride);
    for (let row = 0; row < rows; row++) {
      for (let col = 0; col < cols; col++) {
        for (let a = 0; a < perCell; a++) anchors.push([(col + 0.5) / cols, (row + 0.5) / rows]);
      }
    }
  }
  return anchors;
}

/**
 * Raw outputs -> face boxes in units [0,1] of the input (x of its width, y of its height), best first.
 * boxes: [n*16] (cx, cy, w, h offsets in input pixels, then 6 keypoints); logits: [n].
 * Each kept box is the score-weighted mean of the candidates it overlaps (as MediaPipe does),
 * which steadies it from frame to frame.
 * @param {Float32Array} boxes
 * @param {Float32Array} logits
 * @param {[number, number][]} anchors
 * @param {DetectorConfig} cfg
 * @param {number} [width]  the input's size in pixels, when not the inputSize square (as for makeAnchors)
 * @param {number} [height]
 * @returns {{x: number, y: number, width: number, height: number, score: number}[]}
 */
export function decode(boxes, logits, anchors, cfg, width = cfg.inputSize, height = cfg.inputSize) {
  const cands = [];
  for (let i = 0; i < anchors.length; i++) {
    const score = 1 / (1 + Math.exp(-logits[i]));
    if (score < cfg.scoreThreshold) continue;
    const r = boxes.subarray(i * 16, i * 16 + 4);
    const cx = anchors[i][0] + r[0] / width, cy = anchors[i][1] + r[1] / height;
    const w = r[2] / width, h = r[3] / height;
    if (w <= 0 || h <= 0) continue;
    cands.push({ x: cx - w / 2, y: cy - h / 2, width: w, height: h, score });
  }
  cands.sort((a, b) => b.score - a.score);
  const faces = [];
  const used = new Array(cands.length).fill(false);
  for (let i = 0; i < cands.length && faces.length < cfg.maxFaces; i++) {
    if (used[i]) continue;
    let sw = 0, x = 0, y = 0, w = 0, h = 0;
    for (let j = i; j < cands.length; j++) {
      // the best box always joins its own group: a threshold of 1 merges nothing instead of dividing by 0
      if (used[j] || (j !== i && iou(cands[i], cands[j]) <= cfg.iouThreshold)) continue;
      used[j] = true;
      const c = cands[j];
      sw += c.score; x += c.score * c.x; y += c.score * c.y; w += c.score * c.width; h += c.score * c.height;
    }
    faces.push({ x: x / sw, y: y / sw, width: w / sw, height: h / sw, score: cands[i].score });
  }
  return faces;
}
