// Face detection with BlazeFace (the 256x256 "back" model; its TF.js weights, from @vladmandic/human,
// ship in this package as models/blazeface/blazeface.json + .bin). Every constant comes from face_pipeline.json's
// "detector" section; the decoding is blazeface.js. Results are read with await, never dataSync.
import * as tf from '@tensorflow/tfjs';
import { decode, makeAnchors } from './blazeface.js';

/**
 * BlazeFace's graph is saved for one input size: its placeholder's shape and the four Reshapes that
 * flatten each feature map ([1, grid*grid*anchors, k]) name it. Its convolutions run at any size, so
 * both are freed: another inputSize, and the live loop's inputs of the frame's aspect (anchors follow
 * the input's size, blazeface.js).
 * @param {tf.GraphModel} graph
 */
function anySize(graph) {
  const { executor } = /** @type {any} */ (graph);
  for (const node of Object.values(executor.graph.nodes)) {
    if (node.op === 'Placeholder') node.attrParams.shape.value = [1, -1, -1, 3];
    if (node.op !== 'Reshape') continue;
    const name = node.inputNames[1];
    const [old] = executor.weightMap[name];
    const k = old.dataSync()[2];
    executor.weightMap[name] = [tf.tensor1d([1, -1, k], 'int32')];
    old.dispose();
  }
}

export class FaceDetector {
  /**
   * @param {tf.GraphModel} graph
   * @param {import('./blazeface.js').DetectorConfig} cfg
   */
  constructor(graph, cfg) {
    this.graph = graph;
    this.cfg = cfg;
    this.anchorsBySize = new Map(); // "WxH" -> makeAnchors for that input
    this.outputs = cfg.featureMaps.flatMap((f) => [f.boxes, f.scores]);
    // the live loop's input sides are rounded up to a multiple of the coarsest feature map's stride,
    // so every map's grid is whole
    this.step = Math.max(...cfg.featureMaps.map((f) => f.stride));
  }

  anchors(width, height) {
    const key = `${width}x${height}`;
    if (!this.anchorsBySize.has(key)) this.anchorsBySize.set(key, makeAnchors(this.cfg, width, height));
    return this.anchorsBySize.get(key);
  }

  /**
   * Load the detector's TF.js graph from `weightsUrl` (model.json) and warm it up once (warmUp).
   * @param {string} weightsUrl
   * @param {import('./blazeface.js').DetectorConfig} cfg
   */
  static async load(weightsUrl, cfg) {
    let graph;
    try {
      graph = await tf.loadGraphModel(weightsUrl);
    } catch (err) {
      throw new Error(`face detector weights could not be loaded from ${weightsUrl} (${err.message})`);
    }
    const det = new FaceDetector(graph, cfg);
    anySize(graph); // the live loop's input follows the frame's aspect, not the saved square
    try {
      await det.warmUp();
    } catch (err) {
      graph.dispose();
      throw new Error(`${weightsUrl} does not run as the BlazeFace model face_pipeline.json describes (${err.message})`);
    }
    return det;
  }

  /**
   * The first run sets up what later runs reuse (the backend's kernels, the executor's plan, V8's code
   * for TF.js), none of which depends on the input's size: run once on a small blank input, two coarsest
   * strides square (64 x 64 for BlazeFace, 1/12 of a camera frame's arithmetic, which the first frame does
   * anyway). It checks that the graph gives one score per anchor. bench/bench_bytes.py: the first label
   * comes sooner than with a warm-up on a whole frame.
   */
  async warmUp() {
    const side = 2 * this.step;
    const blank = tf.zeros([side, side, 3]);
    let run;
    try {
      run = this.run(blank, false, side);
    } finally {
      blank.dispose();
    }
    try {
      this.boxes(await Promise.all(run.outs.map((t) => t.data())), run.sx, run.sy, run.width, run.height);
    } finally {
      tf.dispose(run.outs);
    }
  }

  /**
   * Faces in an RGB [H,W,3] tensor or in ImageData/canvas/video/image pixels (the caller disposes a
   * tensor it passes): [{x, y, width, height, score}] in its pixels, best first. `scale`: frame
   * pixels per source pixel, when the source is a downscaled copy of the frame. `letterbox: false`
   * keeps the source's aspect (its longer side inputSize, both sides rounded up to the coarsest
   * stride) instead of padding it to the inputSize square: a 4:3 frame costs 3/4 of the square.
   * @param {tf.Tensor3D | ImageData | HTMLCanvasElement | HTMLVideoElement | HTMLImageElement | ImageBitmap} source
   * @param {number} [scale]
   * @param {{letterbox?: boolean}} [options]
   */
  async detect(source, scale = 1, { letterbox = true } = {}) {
    const { outs, sx, sy, width, height } = this.run(source, letterbox);
    let data;
    try {
      data = await Promise.all(outs.map((t) => t.data()));
    } finally {
      tf.dispose(outs);
    }
    return this.boxes(data, sx * scale, sy * scale, width, height);
  }

  /**
   * Scale the frame's longer side to `size` (inputSize), pad right/bottom (to the square, or to whole strides)
   * and run the model: {outs, sx, sy, width, height} (frame pixels per unit of the input; its size).
   */
  run(source, letterbox = true, size = this.cfg.inputSize) {
    const [lo, hi] = this.cfg.inputRange;
    let sx = 0, sy = 0, width = size, height = size;
    const outs = tf.tidy(() => {
      const rgb = source instanceof tf.Tensor ? source : tf.browser.fromPixels(source, 3);
      const [h, w] = rgb.shape;
      const rw = Math.max(1, Math.round((w * size) / Math.max(w, h)));
      const rh = Math.max(1, Math.round((h * size) / Math.max(w, h)));
      if (!letterbox) {
        width = Math.ceil(rw / this.step) * this.step;
        height = Math.ceil(rh / this.step) * this.step;
      }
      sx = (width * w) / rw; // frame pixels per unit of the input
      sy = (height * h) / rh;
      const small = tf.image.resizeBilinear(tf.cast(rgb, 'float32'), [rh, rw]);
      const scaled = tf.add(tf.div(small, 255 / (hi - lo)), lo); // 0..255 -> lo..hi
      const padded = tf.pad(scaled, [[0, height - rh], [0, width - rw], [0, 0]], lo); // black after scaling
      return this.graph.execute(tf.expandDims(padded, 0), this.outputs);
    });
    return { outs, sx, sy, width, height };
  }

  /**
   * Raw outputs (one typed array per output, in this.outputs order) of a width x height input ->
   * boxes in frame pixels.
   */
  boxes(data, sx, sy, width = this.cfg.inputSize, height = this.cfg.inputSize) {
    const anchors = this.anchors(width, height);
    const n = anchors.length; // concatenate the feature maps in anchor order
    const got = data.filter((_, k) => k % 2 === 1).reduce((sum, d) => sum + d.length, 0);
    if (got !== n) throw new Error(`the face detector gave ${got} scores for a ${width}x${height} input, not one per anchor (${n})`);
    const boxes = new Float32Array(n * 16), logits = new Float32Array(n);
    let offset = 0;
    for (let m = 0; m < this.cfg.featureMaps.length; m++) {
      boxes.set(data[2 * m], offset * 16);
      logits.set(data[2 * m + 1], offset);
      offset += data[2 * m + 1].length;
    }
    // boxes are not clipped: a face cut by the frame edge keeps its true centre for the crop
    return decode(boxes, logits, anchors, this.cfg, width, height)
      .map((f) => ({ x: f.x * sx, y: f.y * sy, width: f.width * sx, height: f.height * sy, score: f.score }))
      .filter((f) => f.width >= this.cfg.minSize && f.height >= this.cfg.minSize);
  }

  dispose() {
    this.graph.dispose();
  }
}
