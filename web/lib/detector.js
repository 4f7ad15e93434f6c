// Face detection with BlazeFace (the 256x256 "back" model; its TF.js weights, from @vladmandic/human,
// ship in this package as models/blazeface/blazeface.json + .bin). Every constant comes from face_pipeline.json's
// "detector" section; the decoding is blazeface.js. Results are read with await, never dataSync.
import * as tf from '@tensorflow/tfjs';
import { decode, makeAnchors } from './blazeface.js';

/**
 * BlazeFace's graph is saved for one input size: its placeholder's shape and the four Reshapes that
 * flatten each feature map ([1, grid*grid*anchors, k]) name it. Its convolutions run at any size, so
 * another inputSize frees both (anchors then follow face_pipeline.json's inputSize, blazeface.js).
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
    this.anchors = makeAnchors(cfg);
    this.outputs = cfg.featureMaps.flatMap((f) => [f.boxes, f.scores]);
  }

  /**
   * Load the detector's TF.js graph from `weightsUrl` (model.json) and warm it up once.
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
    const size = cfg.inputSize;
    if (size !== graph.inputs[0].shape?.[1]) anySize(graph);
    try {
      const outs = tf.tidy(() => graph.execute(tf.zeros([1, size, size, 3]), det.outputs));
      try {
        await Promise.all(outs.map((t) => t.data())); // the first run compiles kernels and allocates
      } finally {
        tf.dispose(outs);
      }
    } catch (err) {
      graph.dispose();
      throw new Error(`${weightsUrl} does not run as the BlazeFace model face_pipeline.json describes (${err.message})`);
    }
    return det;
  }

  /**
   * Faces in an RGB [H,W,3] tensor or in ImageData/canvas/video/image pixels (the caller disposes a
   * tensor it passes): [{x, y, width, height, score}] in its pixels, best first. `scale`: frame
   * pixels per source pixel, when the source is a downscaled copy of the frame.
   * @param {tf.Tensor3D | ImageData | HTMLCanvasElement | HTMLVideoElement | HTMLImageElement | ImageBitmap} source
   * @param {number} [scale]
   */
  async detect(source, scale = 1) {
    const { outs, sx, sy } = this.run(source);
    let data;
    try {
      data = await Promise.all(outs.map((t) => t.data()));
    } finally {
      tf.dispose(outs);
    }
    return this.boxes(data, sx * scale, sy * scale);
  }

  /** Letterbox the frame into the model's square input and run it: {outs, sx, sy}. */
  run(source) {
    const size = this.cfg.inputSize;
    const [lo, hi] = this.cfg.inputRange;
    let sx = 0, sy = 0;
    const outs = tf.tidy(() => {
      const rgb = source instanceof tf.Tensor ? source : tf.browser.fromPixels(source, 3);
      const [height, width] = rgb.shape;
      // letterbox: scale the longer side to `size`, then pad right/bottom with black (lo after scaling)
      const rw = Math.max(1, Math.round((width * size) / Math.max(width, height)));
      const rh = Math.max(1, Math.round((height * size) / Math.max(width, height)));
      sx = (size * width) / rw; // frame pixels per unit of the square input
      sy = (size * height) / rh;
      const small = tf.image.resizeBilinear(tf.cast(rgb, 'float32'), [rh, rw]);
      const scaled = tf.add(tf.div(small, 255 / (hi - lo)), lo); // 0..255 -> lo..hi
      const square = tf.pad(scaled, [[0, size - rh], [0, size - rw], [0, 0]], lo);
      return this.graph.execute(tf.expandDims(square, 0), this.outputs);
    });
    return { outs, sx, sy };
  }

  /** Raw outputs (one typed array per output, in this.outputs order) -> boxes in frame pixels. */
  boxes(data, sx, sy) {
    const n = this.anchors.length; // concatenate the feature maps in anchor order
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
