// The camera loop: one analysis per new camera frame, as soon as the previous one is done. The
// detector runs only on some frames (DetectionCadence); in between, each face's box is carried by the
// tracker, so a frame costs the emotion model per face plus a pixel read. Drawing is the page's
// (app.js passes `render`); model code is model.js/detector.js; the numbers are web/live_config.json.
import { FaceTracker, DetectionCadence } from './tracker.js';

export async function loadLiveConfig(url = '/live_config.json') {
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
   * getModels(): {detector, model} or null while loading; render(results, frame): draws the labels.
   */
  constructor({ video, canvas, ctx, config, smoother, getModels, render }) {
    Object.assign(this, { video, canvas, ctx, config, smoother, getModels, render });
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
    if (this.canvas.width !== v.videoWidth || this.canvas.height !== v.videoHeight) {
      this.canvas.width = v.videoWidth;
      this.canvas.height = v.videoHeight;
    }
    this.ctx.drawImage(v, 0, 0);
    const rgb = tf.browser.fromPixels(this.canvas, 3); // read the pixels once for detector and model
    let detMs = null, faces, results;
    try {
      if (this.cadence.due(t0, this.tracker.wantsDetection(t0))) {
        const td = performance.now();
        const boxes = await models.detector.detectAsync(rgb);
        detMs = performance.now() - td;
        this.detectorCalls += 1;
        faces = this.tracker.update(boxes, t0);
      } else {
        faces = this.tracker.predict(t0);
      }
      faces.sort((a, b) => a.box.x - b.box.x); // faces numbered left to right
      results = await models.model.classifyAsync(rgb, faces.map((f) => f.box));
    } finally {
      rgb.dispose();
    }
    if (this.stream !== stream || !this.running) return; // stopped or paused while this frame ran
    results.forEach((r, i) => { r.id = faces[i].id; });
    if (this.smooth) results = this.smoother.updateTracked(results, models.model.classes);
    this.frames += 1;
    this.render(results, { arrival, start: t0, detMs, modelMs: results[0]?.ms ?? null, every: this.cadence.every });
    this.cadence.record(t0, detMs, performance.now() - t0 - (detMs ?? 0));
  }
}
