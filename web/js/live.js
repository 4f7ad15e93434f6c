// The camera loop: one analysis per new camera frame, as soon as the previous one is done. The
// detector runs only on some frames (DetectionCadence); in between, each face's box is carried by the
// tracker, so a frame costs the emotion model per face plus a pixel read. Drawing is the page's
// (app.js passes `render`); model code is model.js/detector.js; the numbers are web/face_pipeline.json.
import { FaceTracker, DetectionCadence } from './tracker.js';

export async function loadLiveConfig(url = '/face_pipeline.json') {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`live-view settings not found at ${url} (HTTP ${res.status})`);
  const cfg = await res.json();
  if (cfg.version !== 1) throw new Error(`${url}: version ${cfg.version} is not supported (expected 1)`);
  return cfg;
}

// requestVideoFrameCallback reports new frames; where a browser lacks it, animation frames stand in.
const HAS_RVFC = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;

export class LiveLoop {
  /**
   * video: the playing <video>; canvas/ctx: where each frame is drawn and read back;
   * getModels(): {detector, model} or null while loading; render(results, frame): draws the labels;
   * config: web/face_pipeline.json.
   */
  constructor({ video, canvas, ctx, config, smoother, getModels, render, options = {} }) {
    Object.assign(this, { video, canvas, ctx, config, smoother, getModels, render });
    // bench/ ablations: detectorInput 'full' (tf resizes the whole frame) instead of the browser's
    // downscaled copy; modelInput 'full' (read the whole frame) instead of each face's region
    this.options = { detectorInput: 'small', modelInput: 'regions', ...options };
    this.tracker = new FaceTracker(config.tracking);
    this.cadence = new DetectionCadence(config.cadence);
    this.stream = null;
    this.running = false;
    this.busy = false;
    this.arrival = null; // when the newest camera frame arrived (performance.now() time base)
    this.waiting = false;
    this.detectorCalls = 0;
    this.frames = 0;
    this.smooth = true;
    this.audit = 0; // tests: also run the detector on the whole frame, every `audit` frames (frame.audit)
    this.auditMs = 0;
    this.small = null; // the detector's downscaled copy of the frame
  }

  start(stream) {
    this.stream = stream;
    this.reset();
    this.running = true;
    // a camera faster than the configured rate sets the target, so the detector's share follows it
    const rate = stream.getVideoTracks()[0]?.getSettings?.().frameRate;
    this.cadence.cfg = { ...this.config.cadence, targetFps: Math.max(this.config.cadence.targetFps, rate || 0) };
    const onFrame = (now, meta) => {
      if (this.stream !== stream) return; // this camera was stopped
      // captureTime (camera frames) or presentationTime: when the frame reached the page
      this.arrival = meta?.captureTime ?? meta?.presentationTime ?? now ?? performance.now();
      this.waiting = true;
      this.schedule();
      if (HAS_RVFC) this.video.requestVideoFrameCallback(onFrame);
      else requestAnimationFrame(onFrame);
    };
    if (HAS_RVFC) this.video.requestVideoFrameCallback(onFrame);
    else requestAnimationFrame(onFrame);
  }

  reset() {
    this.tracker.reset();
    this.cadence.reset();
    this.smoother.reset();
  }

  stop() {
    this.stream = null;
    this.running = false;
  }

  setRunning(on) {
    this.running = on;
    if (on) {
      this.reset(); // boxes from before the pause are stale
      this.schedule();
    }
  }

  schedule() {
    if (this.busy || !this.running || !this.waiting || !this.stream) return;
    this.busy = true;
    setTimeout(() => this.step().finally(() => { this.busy = false; this.schedule(); }), 0);
  }

  async step() {
    const stream = this.stream;
    if (!this.running || !stream) return;
    this.waiting = false;
    const models = this.getModels();
    const v = this.video;
    if (!models || v.videoWidth === 0 || v.readyState < 2) return;
    const arrival = this.arrival;
    const t0 = performance.now();
    const W = v.videoWidth, H = v.videoHeight;
    if (this.canvas.width !== W || this.canvas.height !== H) {
      this.canvas.width = W;
      this.canvas.height = H;
    }
    this.ctx.drawImage(v, 0, 0); // the frame on screen; detector and model read from it
    let detMs = null, faces;
    if (this.cadence.due(t0, this.tracker.wantsDetection(t0))) {
      const td = performance.now();
      let boxes;
      if (this.options.detectorInput === 'full') {
        const rgb = tf.browser.fromPixels(this.canvas, 3);
        try { boxes = await models.detector.detectAsync(rgb); } finally { rgb.dispose(); }
      } else {
        const small = this.detectorInput(models.detector, W, H);
        boxes = await models.detector.detectAsync(small, W / small.width);
      }
      detMs = performance.now() - td;
      this.detectorCalls += 1;
      faces = this.tracker.update(boxes, t0);
    } else {
      faces = this.tracker.predict(t0);
    }
    // the model reads only the pixels each face's crop needs, not the whole frame
    const inputs = [];
    const whole = this.options.modelInput === 'full' && faces.length ? tf.browser.fromPixels(this.canvas, 3) : null;
    faces = faces.filter((f) => {
      if (whole) return inputs.push({ rgb: whole, box: f.box });
      const r = models.model.cropRegion(f.box, W, H);
      if (!r) return false; // predicted wholly off the frame
      const pixels = this.ctx.getImageData(r.x, r.y, r.width, r.height);
      inputs.push({ rgb: tf.browser.fromPixels(pixels, 3), box: { ...f.box, x: f.box.x - r.x, y: f.box.y - r.y } });
      return true;
    });
    let results;
    try {
      results = await models.model.classifyAsync(inputs);
    } finally {
      tf.dispose(whole ? [whole] : inputs.map((i) => i.rgb));
    }
    if (this.stream !== stream || !this.running) return; // stopped or paused while this frame ran
    results.forEach((r, i) => Object.assign(r, { id: faces[i].id, box: faces[i].box }));
    results.sort((a, b) => a.box.x - b.box.x); // faces numbered left to right
    const audit = this.audit && this.frames % this.audit === 0 ? await this.auditDetect(models.detector) : undefined;
    if (this.smooth) results = this.smoother.updateTracked(results, models.model.classes);
    this.frames += 1;
    this.render(results, { arrival, start: t0, detMs, modelMs: results[0]?.ms ?? null, every: this.cadence.every, audit });
    this.cadence.record(t0, detMs, performance.now() - t0 - (detMs ?? 0) - (audit ? this.auditMs : 0));
  }

  /** The detector's input: the frame (already on the canvas) scaled down by the browser to the detector's size. */
  detectorInput(detector, W, H) {
    const s = Math.min(1, detector.cfg.inputSize / Math.max(W, H));
    const w = Math.round(W * s), h = Math.round(H * s);
    if (!this.small) {
      this.small = document.createElement('canvas');
      this.smallCtx = this.small.getContext('2d', { willReadFrequently: true });
    }
    if (this.small.width !== w || this.small.height !== h) Object.assign(this.small, { width: w, height: h });
    this.smallCtx.drawImage(this.canvas, 0, 0, w, h);
    return this.small;
  }

  /** Tests only (audit > 0): the detector on the whole frame, as a photo upload runs it. */
  async auditDetect(detector) {
    const t = performance.now();
    const rgb = tf.browser.fromPixels(this.canvas, 3);
    try {
      return await detector.detectAsync(rgb);
    } finally {
      rgb.dispose();
      this.auditMs = performance.now() - t;
    }
  }
}
