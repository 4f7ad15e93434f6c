// Model code only: no DOM, no camera. Everything model-specific (class names, input size,
// grayscale weights, normalisation, face-crop rule) comes from the model's metadata.json,
// the one source of truth written by `python -m convert` (see training/metadata.py).
// Expects the global `tf` (tf.min.js + tf-backend-wasm.min.js loaded as classic scripts).

/** Pick a TF.js backend; returns the backend really in use (setBackend can silently fall back). */
export async function initBackend(name = 'wasm', wasmPath = '/vendor/tfjs-backend-wasm/') {
  if (name === 'wasm') tf.wasm.setWasmPaths(wasmPath);
  const ok = await tf.setBackend(name);
  await tf.ready();
  if (!ok) console.warn(`TF.js backend ${name} unavailable, using ${tf.getBackend()}`);
  return tf.getBackend();
}

export class EmotionModel {
  constructor(graph, meta) {
    this.graph = graph;
    this.meta = meta;
    this.classes = meta.classes;
    const { height, width, channels, layout } = meta.input;
    this.height = height;
    this.width = width;
    if (channels !== 1) throw new Error(`metadata: ${channels}-channel input is not supported`);
    this.layout = layout; // onnx-tf keeps PyTorch's NCHW; with one channel NHWC and NCHW share memory order
  }

  /** Load metadata.json and the TF.js graph model from a model directory URL; warm up once. */
  static async load(baseUrl) {
    const res = await fetch(`${baseUrl}/metadata.json`);
    if (!res.ok) throw new Error(`model metadata not found at ${baseUrl}/metadata.json (HTTP ${res.status})`);
    const meta = await res.json();
    const graph = await tf.loadGraphModel(`${baseUrl}/tfjs/model.json`);
    const model = new EmotionModel(graph, meta);
    model.warmUp();
    return model;
  }

  /** First inference compiles kernels and allocates; do it once up front, not on the first face. */
  warmUp() {
    tf.tidy(() => this.graph.predict(tf.zeros(this.inputShape(1))).dataSync());
  }

  inputShape(n) {
    return this.layout === 'NCHW' ? [n, 1, this.height, this.width] : [n, this.height, this.width, 1];
  }

  /** Model inputs already normalised (Float32Array of n*H*W) -> probabilities, n rows. */
  predictNormalized(data, n) {
    const probs = tf.tidy(() => tf.exp(this.graph.predict(tf.tensor(data, this.inputShape(n)))));
    const flat = probs.dataSync();
    probs.dispose();
    const k = this.classes.length;
    return Array.from({ length: n }, (_, i) => Array.from(flat.subarray(i * k, (i + 1) * k)));
  }

  /**
   * Grayscale float image [H,W] (0..255) from a canvas/video/image, or from an RGB [H,W,3] tensor
   * the caller already read with tf.browser.fromPixels (and disposes), per the metadata's luma weights.
   */
  grayscale(source) {
    const [r, g, b] = this.meta.preprocessing.grayscale_weights;
    return tf.tidy(() => {
      const pixels = source instanceof tf.Tensor ? source : tf.browser.fromPixels(source, 3);
      const rgb = tf.cast(pixels, 'float32');
      return tf.sum(tf.mul(rgb, tf.tensor1d([r, g, b])), 2);
    });
  }

  /** The square crop for a detector box {x, y, width, height} (pixels), per metadata.crop. */
  cropSquare(box) {
    const { scale, shift_y: shiftY } = this.meta.crop;
    const side = scale * Math.max(box.width, box.height);
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2 + shiftY * side;
    return { x: cx - side / 2, y: cy - side / 2, side };
  }

  /**
   * Crop, resize and normalise faces from a grayscale [H,W] tensor into a model batch.
   * Area-style resize: bilinear sampling at k*size (k = round(side/size), 1..4) then k x k average,
   * so a large face is not aliased; pixels outside the image take metadata.crop.fill.
   */
  facesToBatch(gray, boxes) {
    const [H, W] = gray.shape;
    const { pixel_scale: pixelScale, mean, std } = this.meta.preprocessing;
    return tf.tidy(() => {
      const img = tf.reshape(gray, [1, H, W, 1]); // once per frame, shared by every face
      const crops = boxes.map((box) => {
        const c = this.cropSquare(box);
        const k = Math.min(4, Math.max(1, Math.round(c.side / this.height)));
        // cropAndResize samples corner-aligned: normalised coords span pixel centres 0..H-1
        const y1 = c.y / (H - 1), x1 = c.x / (W - 1);
        const y2 = (c.y + c.side - 1) / (H - 1), x2 = (c.x + c.side - 1) / (W - 1);
        let crop = tf.image.cropAndResize(img, [[y1, x1, y2, x2]], [0],
          [this.height * k, this.width * k], 'bilinear', this.meta.crop.fill);
        if (k > 1) crop = tf.avgPool(crop, k, k, 'valid');
        return crop;
      });
      const batch = tf.concat(crops, 0); // [n, H, W, 1]
      const norm = tf.div(tf.sub(tf.div(batch, pixelScale), mean), std);
      return tf.reshape(norm, this.inputShape(boxes.length));
    });
  }

  /** Classify every box in a frame: [{box, probs, top, label, ms}] (ms = model time per face). */
  classify(source, boxes) {
    if (boxes.length === 0) return [];
    const gray = this.grayscale(source);
    const t0 = performance.now();
    const probs = tf.tidy(() => tf.exp(this.graph.predict(this.facesToBatch(gray, boxes))));
    const flat = probs.dataSync();
    const ms = (performance.now() - t0) / boxes.length;
    tf.dispose([gray, probs]);
    const k = this.classes.length;
    return boxes.map((box, i) => {
      const p = Array.from(flat.subarray(i * k, (i + 1) * k));
      const top = p.indexOf(Math.max(...p));
      return { box, probs: p, top, label: this.classes[top], ms };
    });
  }

  /**
   * The live view's classify. faces: [{rgb, box}], each an RGB [h,w,3] tensor of the frame region
   * around one face (see cropRegion) and the face's box in that region's pixels. Same crop rule as
   * classify(), but each crop is cut in colour and greyed afterwards (grey is linear: the same pixels
   * up to float rounding); the result is read with await data(), not a blocking read.
   */
  async classifyAsync(faces) {
    if (faces.length === 0) return [];
    const t0 = performance.now();
    const probs = tf.tidy(() => tf.exp(this.graph.predict(this.rgbFacesToBatch(faces))));
    let flat;
    try {
      flat = await probs.data();
    } finally {
      probs.dispose();
    }
    const ms = (performance.now() - t0) / faces.length;
    const k = this.classes.length;
    return faces.map((f, i) => {
      const p = Array.from(flat.subarray(i * k, (i + 1) * k));
      const top = p.indexOf(Math.max(...p));
      return { probs: p, top, label: this.classes[top], ms };
    });
  }

  /**
   * The frame pixels one face's crop samples, {x, y, width, height} within a W x H frame: the crop
   * square plus the pixel bilinear sampling reaches, clipped to the frame (outside it, crops take the
   * fill value, as they do from the whole frame). Null when the crop lies wholly outside the frame.
   */
  cropRegion(box, W, H) {
    const c = this.cropSquare(box);
    const x0 = Math.max(0, Math.floor(c.x)), y0 = Math.max(0, Math.floor(c.y));
    const x1 = Math.min(W, Math.ceil(c.x + c.side) + 1), y1 = Math.min(H, Math.ceil(c.y + c.side) + 1);
    return x1 - x0 >= 2 && y1 - y0 >= 2 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : null;
  }

  /** facesToBatch for [{rgb, box}]: crop and resize each face in colour, then grey it. */
  rgbFacesToBatch(faces) {
    const { pixel_scale: pixelScale, mean, std, grayscale_weights: gw } = this.meta.preprocessing;
    const fill = this.meta.crop.fill / (gw[0] + gw[1] + gw[2]); // grey of (f, f, f) is the metadata's fill
    return tf.tidy(() => {
      const weights = tf.tensor1d(gw);
      const crops = faces.map(({ rgb, box }) => {
        const [H, W] = rgb.shape;
        const img = tf.expandDims(tf.cast(rgb, 'float32'), 0);
        const c = this.cropSquare(box);
        const k = Math.min(4, Math.max(1, Math.round(c.side / this.height)));
        const y1 = c.y / (H - 1), x1 = c.x / (W - 1);
        const y2 = (c.y + c.side - 1) / (H - 1), x2 = (c.x + c.side - 1) / (W - 1);
        const colour = tf.image.cropAndResize(img, [[y1, x1, y2, x2]], [0],
          [this.height * k, this.width * k], 'bilinear', fill);
        let crop = tf.sum(tf.mul(colour, weights), 3, true);
        if (k > 1) crop = tf.avgPool(crop, k, k, 'valid');
        return crop;
      });
      const batch = crops.length === 1 ? crops[0] : tf.concat(crops, 0);
      const norm = tf.div(tf.sub(tf.div(batch, pixelScale), mean), std);
      return tf.reshape(norm, this.inputShape(faces.length));
    });
  }

  dispose() {
    this.graph.dispose();
  }
}
