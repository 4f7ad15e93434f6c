// The recognizer: face detector + emotion model + (for video) tracker, detector cadence and
// smoothing, all configured by face_pipeline.json and the model's metadata.json.
import * as tf from '@tensorflow/tfjs';
import { setBackend } from './backend.js';
import { absoluteUrl, checkPipelineConfig, fetchJson } from './config.js';
import { defaultUrls } from './defaults.js';
import { FaceDetector } from './detector.js';
import { EmotionModel } from './emotion.js';
import { FrameReader, sourceSize } from './frames.js';
import { checkProfile, profileProbabilities } from './profile.js';
import { EmaSmoother } from './smoothing.js';
import { DetectionCadence, FaceTracker, ReadingCadence } from './tracker.js';

const isUrl = (x) => typeof x === 'string' || x instanceof URL;
const argmax = (p) => p.indexOf(Math.max(...p));
// Left to right by box x, ties by y: the order of web/schemas/face-result.schema.json (Python's too).
const leftToRight = (a, b) => a.x - b.x || a.y - b.y;
const byBox = (a, b) => leftToRight(a.box, b.box);
// Deprecated aliases of the names before the v2 face schema: readable, but not own enumerable
// properties, so a face stays exactly the schema's object (JSON.stringify, Object.keys, the validator).
const DEPRECATED = {
  score: { get() { return this.confidence; } },
  faceScore: { get() { return this.detector_score; } },
};
// estimateFaces(..., {features: true}): the model's raw outputs for recording a profile, kept off the
// schema's object in the same way (not own enumerable properties).
const features = (embedding, logProbs) => ({
  embedding: { value: embedding, enumerable: false },
  logProbs: { value: logProbs, enumerable: false },
});

/**
 * Load the emotion model and the face detector; see index.d.ts for the options. Every URL has a
 * default: the files the installed package carries (defaults.js says how they are found).
 * @param {import('./index.js').RecognizerOptions} [options]
 * @returns {Promise<Recognizer>}
 */
export async function createRecognizer(options = {}) {
  const { backend = 'wasm', pipeline = {}, priorStrength } = options;
  const defaults = defaultUrls(options.filesUrl);
  const modelUrl = options.modelUrl ?? defaults.modelUrl;
  const wasmPaths = options.wasmPaths ?? defaults.wasmPaths;
  const used = await setBackend(backend, { wasmPaths });
  const cfgUrl = absoluteUrl(options.detectorUrl ?? defaults.detectorUrl);
  const config = checkPipelineConfig(await fetchJson(cfgUrl, 'face pipeline settings'), cfgUrl, pipeline);
  // a face_pipeline.json of the caller's names its weights relative to itself; the package's own
  // weights are in models/blazeface/, not beside web/face_pipeline.json
  const weightsUrl = absoluteUrl(options.detectorWeightsUrl
    ?? (options.detectorUrl === undefined ? defaults.detectorWeightsUrl : new URL(config.detector.weights, cfgUrl)));
  const [model, detector] = await Promise.allSettled([EmotionModel.load(modelUrl), FaceDetector.load(weightsUrl, config.detector)]);
  if (model.status === 'rejected' || detector.status === 'rejected') {
    for (const part of [model, detector]) if (part.status === 'fulfilled') part.value.dispose();
    throw (model.status === 'rejected' ? model : detector).reason;
  }
  const recognizer = new Recognizer({ model: model.value, detector: detector.value, config, backend: used });
  try {
    if (priorStrength !== undefined) recognizer.priorStrength = priorStrength;
  } catch (err) {
    recognizer.dispose();
    throw new Error(`createRecognizer: ${err.message}`);
  }
  return recognizer;
}

export class Recognizer {
  /**
   * @param {{model: EmotionModel, detector: FaceDetector, config: import('./index.js').PipelineConfig, backend: string}} parts
   */
  constructor({ model, detector, config, backend }) {
    this.model = model;
    this.detector = detector;
    this.config = config;
    this.backend = backend;
    this.tracker = new FaceTracker(config.tracking);
    this.cadence = new DetectionCadence(config.cadence);
    this.smoother = new EmaSmoother(config.smoothing.alpha, config.smoothing.intervalMs ?? 0);
    this.readings = new ReadingCadence(config.cadence);
    this.labels = new Map(); // tracked face id -> its probabilities as last shown (carried between readings)
    this.frames = new FrameReader();
    /** @type {import('./index.js').Timings | null} */
    this.lastTimings = null;
    this.disposed = false;
    /** the active personal profile (fer-profile/1), or null */
    this.activeProfile = null;
    this.view = this.makeView(null);
  }

  /**
   * Class names of the faces' probabilities: the model's output order (metadata.json), or with a
   * profile active its visible classes (the model's, then the user's, hidden ones left out).
   */
  get classes() {
    return this.view.classes;
  }

  /** The active personal profile (web/schemas/profile.schema.json), or null. */
  get profile() {
    return this.activeProfile;
  }

  /**
   * Use a personal profile (made by makeProfile or read by parseProfile) for every face from now on,
   * or none (null). It must be for this model (weights digest, classes, embedding size); otherwise this
   * throws a one-line ProfileError and the current profile stays. Needs a model with an embedding.
   * Tracked faces' smoothing restarts (the classes change).
   * @param {object | null} profile
   */
  setProfile(profile) {
    this.checkOpen();
    if (profile !== null) {
      if (!this.model.hasEmbedding) {
        throw new Error('setProfile: this emotion model has no embedding output; re-convert it with `python -m convert` to use profiles');
      }
      checkProfile(profile, this.metadata, 'setProfile');
    }
    this.activeProfile = profile;
    this.view = this.makeView(profile);
    this.forgetLabels();
  }

  /** What a face's probabilities are made of: the profile (or null), its visible classes and their indices. */
  makeView(profile) {
    if (!profile) return { profile: null, classes: this.model.classes, visible: null };
    const visible = profile.classes.map((_, k) => k).filter((k) => !profile.hidden.includes(profile.classes[k]));
    return { profile, classes: visible.map((k) => profile.classes[k]), visible };
  }

  /**
   * tau of the prior correction (metadata.json "prior"): 0 shows the model as trained; larger values
   * counter its bias towards frequent emotions. Starts at the metadata's strength (0 without a prior).
   */
  get priorStrength() {
    return this.model.priorStrength;
  }

  set priorStrength(tau) {
    this.model.setPriorStrength(tau);
  }

  /** The model's metadata.json. */
  get metadata() {
    return this.model.meta;
  }

  /**
   * Find every face in `input` and read its expression.
   * Without `track`, each call stands alone: the detector runs on the whole input (a photo).
   * With `track: true` (successive frames of one video), the detector runs only on some frames and
   * a tracker carries each face's box in between; faces get a stable `id`, and their probabilities
   * are smoothed (unless `smooth: false`). Await one call before making the next.
   * @param {import('./index.js').RecognizerInput} input
   * @param {import('./index.js').EstimateOptions} [options]
   * @returns {Promise<import('./index.js').Face[]>}
   */
  async estimateFaces(input, options = {}) {
    this.checkOpen();
    if (isUrl(input)) return this.withImage(input, (image) => this.estimateFaces(image, options));
    // an <img> still loading (a page's script often runs before its images): wait for its pixels
    if (typeof HTMLImageElement !== 'undefined' && input instanceof HTMLImageElement && !input.complete) await input.decode().catch(() => {});
    const { width, height } = input instanceof tf.Tensor ? { width: input.shape[1], height: input.shape[0] } : sourceSize(input);
    if (!(width > 0 && height > 0)) throw new Error('estimateFaces: the input has no pixels yet (a video before its first frame, or an image not loaded)');
    if (options.features && !this.model.hasEmbedding) {
      throw new Error('estimateFaces: features need an emotion model with an embedding output; re-convert it with `python -m convert`');
    }
    // the profile in use when the call began: a setProfile during it applies from the next call
    const view = this.view;
    if (!options.track) return this.estimateStill(input, view, !!options.features);
    if (input instanceof tf.Tensor) throw new Error('estimateFaces: track needs a video, canvas, image or ImageData, not a tensor');
    const pageMs = options.pageMs ?? 0;
    if (!(Number.isFinite(pageMs) && pageMs >= 0)) throw new Error(`estimateFaces: pageMs must be a number of ms >= 0, not ${pageMs}`);
    return this.estimateTracked(input, width, height, options, view);
  }

  /**
   * The face detector alone, on the whole input: [{x, y, width, height, score}] in input pixels.
   * @param {import('./index.js').RecognizerInput} input
   */
  async detectFaces(input) {
    this.checkOpen();
    if (isUrl(input)) return this.withImage(input, (image) => this.detectFaces(image));
    const rgb = this.pixels(input);
    try {
      return await this.detector.detect(rgb);
    } finally {
      if (rgb !== input) rgb.dispose();
    }
  }

  /**
   * Forget every tracked face (call when a new video starts or resumes after a pause).
   * frameRate: the camera's rate, when faster than face_pipeline.json's target, so the detector's
   * share of the frames follows it.
   * @param {{frameRate?: number}} [options]
   */
  reset({ frameRate } = {}) {
    this.tracker.reset();
    const cfg = this.config.cadence;
    this.cadence.cfg = { ...cfg, targetFps: Math.max(cfg.targetFps, frameRate || 0) };
    this.cadence.reset();
    this.forgetLabels();
  }

  /** Tracked faces' smoothing and carried labels start again (new classes, or a new video). */
  forgetLabels() {
    this.smoother.reset();
    this.readings.reset();
    this.labels.clear();
  }

  /** Free the models' GPU/wasm memory; the recognizer cannot be used afterwards. */
  dispose() {
    if (this.disposed) return;
    this.disposed = true;
    this.model.dispose();
    this.detector.dispose();
  }

  /** Load the image at `url` (relative to the page), run `use` on it, then free it. */
  async withImage(url, use) {
    const href = absoluteUrl(url);
    let image;
    try {
      const res = await fetch(href);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      image = await createImageBitmap(await res.blob(), { imageOrientation: 'from-image' }); // EXIF as a viewer shows it
    } catch (err) {
      throw new Error(`the image at ${href} could not be loaded (${err.message})`);
    }
    try {
      return await use(image);
    } finally {
      image.close();
    }
  }

  checkOpen() {
    if (this.disposed) throw new Error('this recognizer was disposed; create a new one');
  }

  pixels(input) {
    return input instanceof tf.Tensor ? input : tf.browser.fromPixels(this.frames.full(input), 3);
  }

  face(box, probs, id, classes, extra = null) {
    const top = argmax(probs);
    // web/schemas/face-result.schema.json: the same names as the Python API's RecognizedFace.to_dict()
    const face = {
      ...(id === undefined ? {} : { id }),
      box: { x: box.x, y: box.y, width: box.width, height: box.height },
      label: classes[top],
      confidence: probs[top],
      probabilities: Object.fromEntries(classes.map((name, k) => [name, probs[k]])),
      detector_score: box.score,
    };
    Object.defineProperties(face, DEPRECATED);
    return extra ? Object.defineProperties(face, features(extra.embedding, extra.logProbs)) : face;
  }

  /**
   * The model on each face (kind 'frame': classifyFrame's arguments, 'regions': classifyRegions's):
   * {probs (over view.classes), extras ({embedding, logProbs} per face, or null)}. The embedding is read
   * only when a profile is active or the features are asked for.
   */
  async readFaces(view, kind, args, wantFeatures) {
    if (!view.profile && !wantFeatures) {
      return { probs: await (kind === 'frame' ? this.model.classifyFrame(...args) : this.model.classifyRegions(...args)), extras: null };
    }
    const out = await (kind === 'frame' ? this.model.embedFrame(...args) : this.model.embedRegions(...args));
    const probs = view.profile
      ? out.embeddings.map((e, i) => {
        const p = profileProbabilities(view.profile, e, out.logProbs[i]);
        return view.visible.map((k) => p[k]); // hidden classes are 0: left out, the rest still sum to 1
      })
      : out.probabilities;
    const extras = wantFeatures ? out.embeddings.map((e, i) => ({ embedding: e, logProbs: out.logProbs[i] })) : null;
    return { probs, extras };
  }

  /** A photo: the pixels are read once, the detector sees all of them, each face is cut from them. */
  async estimateStill(input, view, wantFeatures) {
    const t0 = performance.now();
    const rgb = this.pixels(input);
    try {
      const boxes = (await this.detector.detect(rgb)).sort(leftToRight); // left to right, ties by y
      const t1 = performance.now();
      const { probs, extras } = await this.readFaces(view, 'frame', [rgb, boxes], wantFeatures);
      const t2 = performance.now();
      this.lastTimings = { detectorMs: t1 - t0, modelMs: boxes.length ? (t2 - t1) / boxes.length : null, every: 1, totalMs: t2 - t0 };
      return boxes.map((b, i) => this.face(b, probs[i], undefined, view.classes, extras?.[i]));
    } finally {
      if (rgb !== input) rgb.dispose();
    }
  }

  /**
   * A video frame: the detector on a cadence (on a copy the browser scaled down), the tracker in
   * between, and the model reads only the pixels around each face.
   * detectorInput 'full' / modelInput 'full' read the whole frame instead, detectorLetterbox: true pads
   * the detector's input to its square (for benchmarks).
   */
  async estimateTracked(input, W, H, options, view) {
    const { smooth = true, features: wantFeatures = false, timestamp = performance.now(), detectorInput = 'downscaled', modelInput = 'regions',
      detectorLetterbox = false, pageMs = 0 } = options;
    const t0 = performance.now();
    let detectorMs = null, tracks;
    if (this.cadence.due(timestamp, this.tracker.wantsDetection(timestamp))) {
      let boxes;
      if (detectorInput === 'full') {
        boxes = await this.detectFaces(input);
      } else {
        const { pixels, scale } = this.frames.downscaled(input, W, H, this.config.detector.inputSize);
        // the frame's own aspect, not padded to a square: a 4:3 frame costs the detector 3/4
        boxes = await this.detector.detect(pixels, scale, { letterbox: detectorLetterbox });
      }
      detectorMs = performance.now() - t0;
      tracks = this.tracker.update(boxes, timestamp);
    } else {
      tracks = this.tracker.predict(timestamp);
    }
    tracks = tracks.filter((t) => this.model.cropRegion(t.box, W, H)); // predicted wholly off the frame
    // the faces the model reads now (all of them unless labelMaxAgeMs spreads readings over frames);
    // recording a profile reads every face, and a face without a carried label is read
    const chosen = wantFeatures ? null : this.readings.choose(tracks.map((t) => t.id), timestamp);
    const toRead = tracks.filter((t) => !chosen || chosen.has(t.id) || !this.labels.has(t.id) || view !== this.view);
    const inputs = [];
    const whole = modelInput === 'full' && toRead.length ? this.pixels(input) : null;
    for (const t of toRead) {
      if (whole) {
        inputs.push({ rgb: whole, box: t.box });
        continue;
      }
      const r = this.model.cropRegion(t.box, W, H);
      const rgb = tf.browser.fromPixels(this.frames.pixels(input, r), 3);
      inputs.push({ rgb, box: { ...t.box, x: t.box.x - r.x, y: t.box.y - r.y } });
    }
    const tm = performance.now();
    let probs, extras;
    try {
      ({ probs, extras } = await this.readFaces(view, 'regions', [inputs], wantFeatures));
    } finally {
      tf.dispose(whole ? [whole] : inputs.map((i) => i.rgb));
    }
    const t2 = performance.now();
    // the smoother holds vectors over this.view's classes: a profile set during this call restarted it
    const current = view === this.view;
    if (!current) this.forgetLabels();
    const fresh = new Map(toRead.map((t, i) => [t.id, i]));
    probs = tracks.map((t) => {
      const i = fresh.get(t.id);
      if (i === undefined) return this.labels.get(t.id); // carried: its box moved, its label did not
      const p = smooth && current ? this.smoother.update(t.id, probs[i], timestamp) : probs[i];
      if (current) {
        this.labels.set(t.id, p);
        this.readings.read(t.id, timestamp);
      }
      return p;
    });
    if (!smooth) this.smoother.reset();
    const ids = new Set(this.tracker.tracks.map((t) => t.id)); // ended tracks are forgotten
    this.smoother.retain(ids);
    this.readings.retain(ids);
    for (const id of this.labels.keys()) if (!ids.has(id)) this.labels.delete(id);
    const faces = tracks.map((t, i) => this.face({ ...t.box, score: t.score }, probs[i], t.id, view.classes,
      extras?.[fresh.get(t.id)])).sort(byBox);
    this.lastTimings = { detectorMs, modelMs: toRead.length ? (t2 - tm) / toRead.length : null, every: this.cadence.every,
      totalMs: t2 - t0, facesRead: toRead.length };
    // the frame budget is shared with the page's own work (drawing): both cadences count it
    this.cadence.record(timestamp, detectorMs, t2 - t0 - (detectorMs ?? 0) + pageMs);
    this.readings.record(t2 - t0 + pageMs, tracks.length - toRead.length, this.lastTimings.modelMs);
    return faces;
  }
}
