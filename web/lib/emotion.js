// The emotion model: no DOM, no camera. Everything model-specific (class names, input size,
// grayscale weights, normalisation, the face-crop rule, calibration) comes from the model's
// metadata.json, written by `python -m convert` (fer_browser/core/metadata.py is its definition).
// Inference runs inside tf.tidy; results are read with await data(), never dataSync.
// The graph's outputs are read by their signature names (graph.execute(x, names)), never by position:
// model.json lists them in its own key order. Exports with an embedding (metadata model.embedding) have
// a second output; exports without one keep working as before.
import * as tf from '@tensorflow/tfjs';
import { checkMetadata, checkOutputSize, fetchJson, folderUrl } from './config.js';
import { cropRegion, cropScale, cropSquare } from './geometry.js';
import { adjustProbabilities, checkPriorStrength } from './prior.js';

/** @typedef {import('./geometry.js').Box} Box */

export class EmotionModel {
  /**
   * @param {tf.GraphModel} graph
   * @param {import('./index.js').ModelMetadata} meta
   */
  constructor(graph, meta) {
    this.graph = graph;
    this.meta = meta;
    /** @type {string[]} */
    this.classes = meta.classes;
    this.height = meta.input.height;
    this.width = meta.input.width;
    this.layout = meta.input.layout; // onnx-tf keeps PyTorch's NCHW; with one channel both share memory order
    this.logOutput = (meta.model?.output ?? 'log_softmax') === 'log_softmax';
    /** softmax(log(p) / T) turns the model's probabilities into calibrated ones; 1 = as trained */
    this.temperature = meta.calibration?.temperature ?? 1;
    /** the training set's class frequencies (metadata.prior), or null */
    this.prior = meta.prior?.probabilities ?? null;
    /** tau of the prior correction: 0 = the model as trained; the metadata's default to start with */
    this.priorStrength = meta.prior?.strength ?? 0;
    const names = graph.outputNodes ?? [];
    const emb = meta.model?.embedding ?? null;
    /** the embedding output's name (metadata model.embedding.output), or null for a single-output export */
    this.embeddingName = emb ? emb.output : null;
    this.hasEmbedding = emb !== null;
    /** values per face in the embedding (0 without one) */
    this.embeddingSize = emb ? emb.size : 0;
    if (emb && !names.includes(emb.output)) {
      throw new Error(`emotion model: metadata.json announces the output ${JSON.stringify(emb.output)} but ` +
        `tfjs/model.json has [${names.join(', ')}]; re-convert the model with \`python -m convert\``);
    }
    // log_probs by name; an export whose one other output has another name still works
    const others = names.filter((n) => n !== this.embeddingName);
    this.logProbsName = others.includes('log_probs') ? 'log_probs' : others.length === 1 ? others[0] : null;
    if (this.logProbsName === null) {
      throw new Error(`emotion model: cannot tell the log-probabilities among the outputs [${names.join(', ')}]`);
    }
    // greyNormalised's 1 x 1 convolution, made once with the model and disposed with it (last: no throw after it)
    const { grayscale_weights: gw, pixel_scale: scale, mean, std } = meta.preprocessing;
    this.greyFilter = tf.tensor4d(gw.map((w) => w / (scale * std)), [1, 1, 3, 1]);
    this.greyBias = tf.tensor1d([-mean / std]);
  }

  /** Set tau (0 = off); refused outside [0, 2], or above 0 for a model without a prior. @param {number} tau */
  setPriorStrength(tau) {
    this.priorStrength = checkPriorStrength(tau, this.prior !== null);
  }

  /**
   * Load metadata.json and tfjs/model.json from a model folder URL; warm up once.
   * @param {string} modelUrl
   */
  static async load(modelUrl) {
    const base = folderUrl(modelUrl);
    const metaUrl = new URL('metadata.json', base).href;
    const meta = checkMetadata(await fetchJson(metaUrl, 'model metadata'), metaUrl);
    const graphUrl = new URL('tfjs/model.json', base).href;
    let graph;
    try {
      graph = await tf.loadGraphModel(graphUrl);
    } catch (err) {
      throw new Error(`emotion model could not be loaded from ${graphUrl} (${err.message})`);
    }
    let model;
    try {
      model = new EmotionModel(graph, meta);
      await model.warmUp(graphUrl);
    } catch (err) {
      if (model) model.dispose(); else graph.dispose(); // a model that fails its checks holds nothing
      throw err;
    }
    return model;
  }

  /** The first inference compiles kernels and allocates: do it once up front, not on the first face. */
  /** Also checks the output has one number per class, and the embedding the metadata's size. @param {string} [where] */
  async warmUp(where = 'emotion model') {
    const outs = tf.tidy(() => this.execute(tf.zeros(this.inputShape(1))));
    try {
      checkOutputSize(outs[0].shape, this.classes, where);
      if (this.hasEmbedding) {
        const size = outs[1].shape[outs[1].shape.length - 1];
        if (size !== this.embeddingSize) {
          throw new Error(`${where}: the model's embedding has ${size} values per face but metadata.json says ${this.embeddingSize}`);
        }
      }
      await Promise.all(outs.map((t) => t.data()));
    } finally {
      tf.dispose(outs);
    }
  }

  /** [log-probs (or logits), embedding when the export has one] for a batch tensor, by output name. */
  execute(x) {
    const names = this.hasEmbedding ? [this.logProbsName, this.embeddingName] : [this.logProbsName];
    const out = this.graph.execute(x, names);
    return Array.isArray(out) ? out : [out];
  }

  inputShape(n) {
    return this.layout === 'NCHW' ? [n, 1, this.height, this.width] : [n, this.height, this.width, 1];
  }

  /**
   * Run a batch tensor builder inside tf.tidy, read the outputs back: n rows of k probabilities, the
   * model's own if `raw`, else with the temperature and prior correction (adjustProbabilities).
   */
  async read(makeBatch, n, raw = false) {
    const out = tf.tidy(() => {
      const y = this.execute(makeBatch())[0];
      // model.output is 'log_softmax' or 'logits' (the schema allows no other; predict reads it alike)
      const logp = this.logOutput ? y : tf.logSoftmax(y);
      return raw ? tf.exp(logp) : logp; // the correction is k numbers a row, done in JS
    });
    let flat;
    try {
      flat = await out.data();
    } finally {
      out.dispose();
    }
    const k = this.classes.length;
    const rows = Array.from({ length: n }, (_, i) => Array.from(flat.subarray(i * k, (i + 1) * k)));
    return raw ? rows : rows.map((lp) => adjustProbabilities(lp, this.temperature, this.prior, this.priorStrength));
  }

  /**
   * The batch's probabilities (calibrated and prior-corrected, as classifyFrame's) with the raw outputs:
   * log-probabilities and, when the export has one, the embedding, as Float32Array rows (embeddings null
   * without). One tidy for the graph; every tensor is disposed before it returns.
   * @returns {Promise<{probabilities: number[][], logProbs: Float32Array[], embeddings: Float32Array[] | null}>}
   */
  async readOutputs(makeBatch, n) {
    const outs = tf.tidy(() => {
      const [y, e] = this.execute(makeBatch());
      return e ? [this.logOutput ? y : tf.logSoftmax(y), e] : [this.logOutput ? y : tf.logSoftmax(y)];
    });
    let flat;
    try {
      flat = await Promise.all(outs.map((t) => t.data()));
    } finally {
      tf.dispose(outs);
    }
    const rows = (data, k) => Array.from({ length: n }, (_, i) => data.slice(i * k, (i + 1) * k));
    const logProbs = rows(flat[0], this.classes.length);
    return {
      probabilities: logProbs.map((lp) => adjustProbabilities(Array.from(lp), this.temperature, this.prior, this.priorStrength)),
      logProbs,
      embeddings: flat.length > 1 ? rows(flat[1], this.embeddingSize) : null,
    };
  }

  /** readOutputs, refused (one line) for an export without the embedding. */
  async embed(makeBatch, n) {
    if (!this.hasEmbedding) {
      throw new Error('this emotion model has no embedding output (an export made before embeddings); ' +
        're-convert it with `python -m convert` to get embeddings');
    }
    if (n === 0) return { probabilities: [], logProbs: [], embeddings: [] };
    return this.readOutputs(makeBatch, n);
  }

  /**
   * Normalised inputs (Float32Array of n*H*W) -> {probabilities, logProbs, embeddings}; needs the embedding.
   * @param {Float32Array} data
   * @param {number} n
   */
  embedNormalized(data, n) {
    return this.embed(() => tf.tensor(data, this.inputShape(n)), n);
  }

  /** classifyFrame's crops -> {probabilities, logProbs, embeddings}; needs the embedding. */
  async embedFrame(rgb, boxes) {
    return this.embed(() => this.facesToBatch(rgb, boxes), boxes.length);
  }

  /** classifyRegions's crops -> {probabilities, logProbs, embeddings}; needs the embedding. */
  async embedRegions(faces) {
    return this.embed(() => this.rgbFacesToBatch(faces), faces.length);
  }

  /**
   * Model inputs already normalised (Float32Array of n*H*W) -> uncalibrated probabilities, n rows:
   * what the parity check compares with PyTorch.
   * @param {Float32Array} data
   * @param {number} n
   */
  predictNormalized(data, n) {
    return this.read(() => tf.tensor(data, this.inputShape(n)), n, true);
  }

  /**
   * Classify every box of a whole frame: rgb is an RGB [H,W,3] tensor (the caller disposes it).
   * The frame is greyed once, then each face is cut from it (a photo's path).
   * @param {tf.Tensor3D} rgb
   * @param {Box[]} boxes
   * @returns {Promise<number[][]>} calibrated probabilities, one row per box
   */
  async classifyFrame(rgb, boxes) {
    if (boxes.length === 0) return [];
    return this.read(() => this.facesToBatch(rgb, boxes), boxes.length);
  }

  /**
   * Classify faces given as [{rgb, box}]: each an RGB [h,w,3] tensor of the frame region around one
   * face (see cropRegion) and the face's box in that region's pixels. Same crop rule as
   * classifyFrame, but each crop is cut in colour and greyed afterwards (grey is linear: the same
   * pixels up to float rounding), so only the pixels the crops need are read from the frame.
   * @param {{rgb: tf.Tensor3D, box: Box}[]} faces
   * @returns {Promise<number[][]>}
   */
  async classifyRegions(faces) {
    if (faces.length === 0) return [];
    return this.read(() => this.rgbFacesToBatch(faces), faces.length);
  }

  /** The frame region one face's crop needs (frame pixels), or null when it lies outside the frame. */
  cropRegion(box, W, H) {
    return cropRegion(box, this.meta.crop, W, H);
  }

  /**
   * An RGB image [H,W,3] (any dtype) as one channel [1,H,W,1] in the model's units: grey (the metadata's
   * luma weights) and normalised ((v / pixel_scale - mean) / std) in a single 1 x 1 convolution, since
   * both are affine. So are bilinear resizing and averaging, so cropping afterwards gives the same
   * pixels up to float rounding, at a third of the cost of cropping in colour (bench/model_parts.py).
   * @param {tf.Tensor3D} rgb
   */
  greyNormalised(rgb) {
    return tf.tidy(() => tf.fused.conv2d({
      x: tf.expandDims(tf.cast(rgb, 'float32'), 0), filter: this.greyFilter, strides: 1, pad: 'valid', bias: this.greyBias,
    }));
  }

  /** metadata.crop.fill (a grey level) in the model's units: what pixels outside the image become. */
  normalisedFill() {
    const { pixel_scale: scale, mean, std } = this.meta.preprocessing;
    return (this.meta.crop.fill / scale - mean) / std;
  }

  /** Normalised crop sizes: bilinear sampling at k*size, then k x k averaging (geometry.js cropScale). */
  cropScale(side) {
    return cropScale(side, this.height);
  }

  /** cropAndResize's box for a crop square in an H x W image (corner-aligned: pixel centres 0..H-1). */
  static cropBox(c, H, W) {
    return [c.y / (H - 1), c.x / (W - 1), (c.y + c.side - 1) / (H - 1), (c.x + c.side - 1) / (W - 1)];
  }

  /**
   * Crop and resize faces from an image in the model's units ([1,H,W,1], greyNormalised) into a model
   * batch; pixels outside the image take metadata.crop.fill.
   */
  crop(img, box, fill) {
    const [, H, W] = img.shape;
    const c = cropSquare(box, this.meta.crop);
    const k = this.cropScale(c.side);
    const crop = tf.image.cropAndResize(img, [EmotionModel.cropBox(c, H, W)], [0],
      [this.height * k, this.width * k], 'bilinear', fill);
    return k > 1 ? tf.avgPool(crop, k, k, 'valid') : crop;
  }

  /** Every box of an RGB frame [H,W,3] as a model batch: the frame is greyed once, then each face cut from it. */
  facesToBatch(rgb, boxes) {
    return tf.tidy(() => {
      const img = this.greyNormalised(rgb); // once per frame, shared by every face
      const fill = this.normalisedFill();
      const crops = boxes.map((box) => this.crop(img, box, fill));
      return tf.reshape(crops.length === 1 ? crops[0] : tf.concat(crops, 0), this.inputShape(boxes.length));
    });
  }

  /** facesToBatch for [{rgb, box}]: each face from its own region of the frame. */
  rgbFacesToBatch(faces) {
    return tf.tidy(() => {
      const fill = this.normalisedFill();
      const crops = faces.map(({ rgb, box }) => this.crop(this.greyNormalised(rgb), box, fill));
      return tf.reshape(crops.length === 1 ? crops[0] : tf.concat(crops, 0), this.inputShape(faces.length));
    });
  }

  dispose() {
    this.graph.dispose();
    tf.dispose([this.greyFilter, this.greyBias]);
  }
}
