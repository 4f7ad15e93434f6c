// The camera loop: one analysis per new camera frame, as soon as the previous one is done. The
// recognizer tracks faces between detector runs (fer-browser's estimateFaces with track: true);
// this module draws each frame on the stage and records it.
import { ctx, el } from './dom.js';
import { drawOverlays, renderFaces } from './draw.js';
import { state } from './state.js';
import { recordTimings, showStats } from './stats.js';
import { timeline } from './timeline.js';

// requestVideoFrameCallback reports new frames; where a browser lacks it, animation frames stand in.
const HAS_RVFC = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;

export class CameraLoop {
  /** options: extra estimateFaces options (bench/ ablations: detectorInput, modelInput). */
  constructor(options = {}, onError = () => {}) {
    this.onError = onError; // a frame failed: the page reports it and stops the camera
    this.options = options;
    this.stream = null;
    this.running = false;
    this.waiting = false; // a frame arrived since the last analysis
    this.arrival = null; // when the newest frame arrived (performance.now() time base)
    this.current = Promise.resolve(); // the analysis in progress
    this.busy = false;
    this.frames = 0;
    this.detectorCalls = 0;
    this.smooth = true;
    this.audit = 0; // bench/live_accuracy.py: also run the detector on the whole frame every `audit` frames
    this.pageMs = 0; // the last frame's work outside the recognizer (copy, drawing): its cadences count it
  }

  start(stream) {
    this.stream = stream;
    this.running = true;
    this.resetTracking();
    const onFrame = (now, meta) => {
      if (this.stream !== stream) return; // this camera was stopped
      // captureTime (camera frames) or presentationTime: when the frame reached the page
      this.arrival = meta?.captureTime ?? meta?.presentationTime ?? now ?? performance.now();
      this.waiting = true;
      this.schedule();
      if (HAS_RVFC) el.video.requestVideoFrameCallback(onFrame);
      else requestAnimationFrame(onFrame);
    };
    if (HAS_RVFC) el.video.requestVideoFrameCallback(onFrame);
    else requestAnimationFrame(onFrame);
    // the frame the video already shows is new to the loop: read it now, not one frame later
    if (el.video.readyState >= 2) {
      this.arrival = performance.now();
      this.waiting = true;
      this.schedule();
    }
  }

  resetTracking() {
    const rate = this.stream?.getVideoTracks()[0]?.getSettings?.().frameRate;
    state.recognizer?.reset({ frameRate: rate }); // a faster camera sets the detector's cadence
  }

  stop() {
    this.stream = null;
    this.running = false;
  }

  setRunning(on) {
    this.running = on;
    if (on) {
      this.resetTracking(); // boxes from before the pause are stale
      this.schedule();
    }
  }

  /** Resolves once no frame is being analysed (before the recognizer is replaced). */
  idle() {
    return this.current;
  }

  schedule() {
    if (this.busy || !this.running || !this.waiting || !this.stream) return;
    this.busy = true;
    this.current = new Promise((done) => setTimeout(done, 0))
      .then(() => this.step())
      .catch((err) => this.onError(err))
      .finally(() => { this.busy = false; this.schedule(); });
  }

  async step() {
    const stream = this.stream, r = state.recognizer, v = el.video;
    if (!this.running || !stream) return;
    this.waiting = false;
    if (!r || !state.ready || v.videoWidth === 0 || v.readyState < 2) return;
    const arrival = this.arrival;
    const t0 = performance.now();
    if (el.canvas.width !== v.videoWidth || el.canvas.height !== v.videoHeight) {
      el.canvas.width = v.videoWidth;
      el.canvas.height = v.videoHeight;
    }
    ctx.drawImage(v, 0, 0); // the frame on screen; the recognizer reads it from the canvas
    // the faces' classes as this call reads them (a profile switched on or off meanwhile applies from the next)
    const classes = r.classes;
    const recorder = state.recorder; // calibrate.js recording: the model's raw features too
    const tr = performance.now();
    const faces = await r.estimateFaces(el.canvas, { ...this.options, track: true, smooth: this.smooth, timestamp: t0,
      features: !!recorder, pageMs: this.pageMs });
    if (this.stream !== stream || !this.running) return; // stopped or paused while this frame ran
    const timings = r.lastTimings;
    if (timings.detectorMs !== null) this.detectorCalls += 1;
    const audit = this.audit && this.frames % this.audit === 0 ? await r.detectFaces(el.canvas) : undefined;
    const ta = performance.now();
    this.frames += 1;
    show(faces, classes, { arrival, start: t0, timings, audit });
    if (recorder && state.recorder === recorder) recorder(faces);
    this.pageMs = (tr - t0) + (performance.now() - ta); // copying the frame and drawing it (not the audit)
  }
}

/** Per face, ms from the start of the analysis whose reading its label shows to now (drawn). */
function labelAges(faces, t) {
  const readAt = state.recognizer?.readings.readAt;
  return faces.map((f) => (readAt?.has(f.id) ? t - readAt.get(f.id) : null));
}

/** Draw one analysed camera frame and record it. */
function show(faces, classes, { arrival, start, timings, audit }) {
  state.results = faces;
  drawOverlays(faces, classes);
  renderFaces(faces, classes);
  state.frames += 1;
  const now = performance.now();
  recordTimings(timings, now);
  timeline.add(now, faces, classes);
  // bench/bench_browser.py and tests set frameLog = [] to record every frame
  state.frameLog?.push({ t: now, arrival, workMs: now - start, faces: faces.length, detMs: timings.detectorMs,
    modelMs: timings.modelMs, every: timings.every, read: timings.facesRead, labelAgeMs: labelAges(faces, now),
    ids: faces.map((f) => f.id), boxes: faces.map((f) => f.box), audit });
  showStats(now);
}
