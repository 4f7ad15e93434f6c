// Face detection with BlazeFace (the 256x256 "back" model whose weights ship in the npm package
// @vladmandic/human, models/blazeface.json + .bin), decoded here so the page needs one TF.js only.
// No DOM, no camera. Expects the global `tf`. predict/ ports this decoding to Python: keep the two
// in step, and keep every constant in DETECTOR below.

export const DETECTOR = {
  modelUrl: '/vendor/blazeface/blazeface.json',
  inputSize: 256, // the model sees a 256x256 RGB square, values scaled to [-1, 1]
  // Two feature maps; every cell holds `anchors` anchors, all centred at ((col+0.5)/grid, (row+0.5)/grid).
  // Output names: box regressions [1, cells*anchors, 16] and score logits [1, cells*anchors, 1].
  featureMaps: [
    { stride: 16, anchors: 2, boxes: 'Identity_2', scores: 'Identity' }, // 16x16 grid -> 512
    { stride: 32, anchors: 6, boxes: 'Identity_3', scores: 'Identity_1' }, // 8x8 grid -> 384
  ],
  scoreThreshold: 0.6, // sigmoid(logit) needed to report a face
  iouThreshold: 0.3, // detections overlapping more than this are one face (weighted merge)
  maxFaces: 20,
  minSize: 12, // faces smaller than this (frame pixels) are ignored
};

/** Anchor centres in [0,1] of the 256 square, in the model's output order (896 for BlazeFace-back). */
export function makeAnchors(cfg = DETECTOR) {
  const anchors = [];
  for (const { stride, anchors: perCell } of cfg.featureMaps) {
    const grid = Math.ceil(cfg.inputSize / stride);
    for (let row = 0; row < grid; row++) {
      for (let col = 0; col < grid; col++) {
        for (let a = 0; a < perCell; a++) anchors.push([(col + 0.5) / grid, (row + 0.5) / grid]);
      }
    }
  }
  return anchors;
}

function iou(a, b) {
  const x1 = Math.max(a.x, b.x), y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.width, b.x + b.width), y2 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/**
 * Turn raw outputs into face boxes in square-input units [0,1].
 * boxes: Float32Array [n*16] (cx, cy, w, h offsets in input pixels, then 6 keypoints); logits: [n].
 * Each kept box is the score-weighted mean of the candidates it overlaps (as MediaPipe does),
 * which steadies it from frame to frame.
 */
export function decode(boxes, logits, anchors, cfg = DETECTOR) {
  const size = cfg.inputSize;
  const cands = [];
  for (let i = 0; i < anchors.length; i++) {
    const score = 1 / (1 + Math.exp(-logits[i]));
    if (score < cfg.scoreThreshold) continue;
    const r = boxes.subarray(i * 16, i * 16 + 4);
    const cx = anchors[i][0] + r[0] / size, cy = anchors[i][1] + r[1] / size;
    const w = r[2] / size, h = r[3] / size;
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
      if (used[j] || iou(cands[i], cands[j]) <= cfg.iouThreshold) continue;
      used[j] = true;
      const c = cands[j];
      sw += c.score; x += c.score * c.x; y += c.score * c.y; w += c.score * c.width; h += c.score * c.height;
    }
    faces.push({ x: x / sw, y: y / sw, width: w / sw, height: h / sw, score: cands[i].score });
  }
  return faces;
}

export class FaceDetector {
  constructor(graph, cfg = DETECTOR) {
    this.graph = graph;
    this.cfg = cfg;
    this.anchors = makeAnchors(cfg);
    this.outputs = cfg.featureMaps.flatMap((f) => [f.boxes, f.scores]);
  }

  static async load(cfg = DETECTOR) {
    const det = new FaceDetector(await tf.loadGraphModel(cfg.modelUrl), cfg);
    tf.tidy(() => det.graph.execute(tf.zeros([1, cfg.inputSize, cfg.inputSize, 3]), det.outputs));
    return det;
  }

  /**
   * Faces in a video/canvas/image, or in an RGB [H,W,3] tensor from tf.browser.fromPixels (the caller
   * disposes it): [{x, y, width, height, score}] in its pixels, best first.
   */
  detect(source) {
    const run = this.run(source);
    const data = run.outs.map((t) => t.dataSync());
    tf.dispose(run.outs);
    return this.boxes(data, run);
  }

  /**
   * detect() for the live view: the outputs are read with await data(), not a blocking read.
   * `scale`: frame pixels per source pixel, when the source is a downscaled copy of the frame.
   */
  async detectAsync(source, scale = 1) {
    const run = this.run(source);
    run.sx *= scale;
    run.sy *= scale;
    let data;
    try {
      data = await Promise.all(run.outs.map((t) => t.data()));
    } finally {
      tf.dispose(run.outs);
    }
    return this.boxes(data, run);
  }

  /** Letterbox the frame into the model's square input and run it: {outs, sx, sy}. */
  run(source) {
    const size = this.cfg.inputSize;
    let sx = 0, sy = 0;
    const outs = tf.tidy(() => {
      const rgb = source instanceof tf.Tensor ? source : tf.browser.fromPixels(source, 3);
      const [height, width] = rgb.shape;
      // letterbox: scale the longer side to `size`, then pad right/bottom with black (-1 after scaling)
      const rw = Math.max(1, Math.round((width * size) / Math.max(width, height)));
      const rh = Math.max(1, Math.round((height * size) / Math.max(width, height)));
      sx = (size * width) / rw; // frame pixels per unit of the square input
      sy = (size * height) / rh;
      const small = tf.image.resizeBilinear(tf.cast(rgb, 'float32'), [rh, rw]);
      const square = tf.pad(tf.sub(tf.div(small, 127.5), 1), [[0, size - rh], [0, size - rw], [0, 0]], -1);
      return this.graph.execute(tf.expandDims(square, 0), this.outputs);
    });
    return { outs, sx, sy };
  }

  /** Raw outputs (one typed array per output, in this.outputs order) -> boxes in frame pixels. */
  boxes(data, { sx, sy }) {
    // concatenate the feature maps in anchor order
    const n = this.anchors.length;
    const boxes = new Float32Array(n * 16), logits = new Float32Array(n);
    let offset = 0;
    for (let m = 0; m < this.cfg.featureMaps.length; m++) {
      boxes.set(data[2 * m], offset * 16);
      logits.set(data[2 * m + 1], offset);
      offset += data[2 * m + 1].length;
    }
    // boxes are not clipped: a face cut by the frame edge keeps its true centre for the crop
    return decode(boxes, logits, this.anchors, this.cfg)
      .map((f) => ({ x: f.x * sx, y: f.y * sy, width: f.width * sx, height: f.height * sy, score: f.score }))
      .filter((f) => f.width >= this.cfg.minSize && f.height >= this.cfg.minSize);
  }

  dispose() {
    this.graph.dispose();
  }
}
