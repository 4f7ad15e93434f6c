// The camera: start, pause, stop, and the loop that analyses one new frame as soon as the previous
// one is done (the recognizer tracks faces between detector runs; see fer-browser's estimateFaces).
import { clearMessage, ctx, el, showMessage } from './dom.js';
import { clearStage, drawOverlays, renderFaces } from './draw.js';
import { state } from './state.js';
import { recordTimings, resetStats, showStats } from './stats.js';
import { timeline } from './timeline.js';

// requestVideoFrameCallback reports new frames; where a browser lacks it, animation frames stand in.
const HAS_RVFC = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;

export class CameraLoop {
  /** options: extra estimateFaces options (bench/ ablations: detectorInput, modelInput). */
  constructor(options = {}) {
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
      .catch((err) => {
        showMessage(`The camera view stopped: ${err.message}`, 'error');
        stopCamera();
      })
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
    const faces = await r.estimateFaces(el.canvas, { ...this.options, track: true, smooth: this.smooth, timestamp: t0 });
    if (this.stream !== stream || !this.running) return; // stopped or paused while this frame ran
    const timings = r.lastTimings;
    if (timings.detectorMs !== null) this.detectorCalls += 1;
    const audit = this.audit && this.frames % this.audit === 0 ? await r.detectFaces(el.canvas) : undefined;
    this.frames += 1;
    show(faces, { arrival, start: t0, timings, audit });
  }
}

/** Draw one analysed camera frame and record it. */
function show(faces, { arrival, start, timings, audit }) {
  const classes = state.recognizer.classes;
  state.results = faces;
  drawOverlays(faces, classes);
  renderFaces(faces, classes);
  state.frames += 1;
  const now = performance.now();
  recordTimings(timings, now);
  timeline.add(now, faces);
  // bench/bench_browser.py and tests set frameLog = [] to record every frame
  state.frameLog?.push({ t: now, arrival, workMs: now - start, faces: faces.length, detMs: timings.detectorMs,
    modelMs: timings.modelMs, every: timings.every, ids: faces.map((f) => f.id), boxes: faces.map((f) => f.box), audit });
  showStats();
}

function cameraError(err) {
  switch (err.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Camera access was denied. Allow the camera for this site in the browser settings, or upload a photo instead.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera was found. Connect one, or upload a photo instead.';
    case 'NotReadableError':
      return 'The camera is busy or unavailable (another application may be using it). Upload a photo instead.';
    default:
      return `The camera could not be started (${err.name}: ${err.message}). Upload a photo instead.`;
  }
}

export async function startCamera() {
  clearMessage();
  if (!navigator.mediaDevices?.getUserMedia) {
    showMessage('This page cannot use a camera here (browsers allow it only on https or localhost). Upload a photo instead.', 'error');
    return;
  }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: 'user' }, audio: false,
    });
  } catch (err) {
    showMessage(cameraError(err), 'error');
    return;
  }
  state.stream = stream;
  el.video.srcObject = stream;
  await el.video.play();
  state.mode = 'camera';
  state.running = true;
  el.hint.hidden = true;
  resetStats();
  timeline.start(performance.now(), state.recognizer.classes);
  setButtons();
  state.live.smooth = el.smooth.checked;
  state.live.start(stream);
}

export function togglePause() {
  state.running = !state.running;
  if (state.running) resetStats();
  state.live?.setRunning(state.running);
  setButtons();
}

export function stopCamera() {
  state.live?.stop();
  state.stream?.getTracks().forEach((t) => t.stop());
  state.stream = null;
  el.video.srcObject = null;
  state.running = false;
  if (state.mode === 'camera') {
    state.mode = 'idle';
    state.results = [];
    clearStage();
  }
  timeline.stop();
  showStats();
  setButtons();
}

export function setButtons() {
  const cam = state.mode === 'camera';
  el.start.disabled = !state.ready || cam;
  el.pause.disabled = !state.ready || !cam;
  el.stop.disabled = !cam;
  el.parity.disabled = !state.ready;
  el.pause.textContent = cam && !state.running ? 'Resume' : 'Pause';
}
