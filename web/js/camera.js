// The camera's controls: start (getUserMedia, with a clear message when it is denied or missing),
// pause/resume and stop; the frames themselves go through the loop in loop.js.
import { clearMessage, el, showMessage } from './dom.js';
import { clearStage } from './draw.js';
import { CameraLoop } from './loop.js';
import { state } from './state.js';
import { resetStats, showStats } from './stats.js';
import { timeline } from './timeline.js';
import { pauseWhenHidden } from './visibility.js';

/** The page's camera loop (created once; bench/ ablations pass estimateFaces options). */
export function createLoop(options) {
  pauseWhenHidden();
  return new CameraLoop(options, (err) => {
    showMessage(`The camera view stopped: ${err.message}`, 'error');
    stopCamera();
  });
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

/** Open the camera and run the live loop; `early`: the stream an early click already asked for (camera_early.js). */
export async function startCamera(early = null) {
  clearMessage();
  if (!navigator.mediaDevices?.getUserMedia) {
    showMessage('This page cannot use a camera here (browsers allow it only on https or localhost). Upload a photo instead.', 'error');
    return;
  }
  // the camera may be started while the model still loads: opening a camera takes a few hundred ms on
  // real devices, so both happen at once and the first label comes sooner
  state.starting = true;
  setButtons();
  try {
    await openCamera(early);
  } finally {
    state.starting = false;
    setButtons();
  }
}

async function openCamera(early) {
  let stream;
  try {
    stream = await (early ?? self.ferCamera.open());
  } catch (err) {
    showMessage(cameraError(err), 'error');
    return;
  }
  state.stream = stream;
  el.video.srcObject = stream;
  await el.video.play();
  state.mode = 'camera';
  el.hint.hidden = true;
  setButtons(); // Stop works from here on, model loaded or not
  if (!state.ready) {
    el.status.textContent = 'camera on, loading model…';
    try {
      await state.loading;
    } catch {
      stopCamera(); // the page already says why the model did not load
      return;
    }
    if (state.stream !== stream) return; // stopped while the model loaded
  }
  state.running = true;
  resetStats();
  timeline.start(performance.now(), state.recognizer.classes);
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
  // Start needs no loaded model (the camera opens while it loads), only one that has not failed
  el.start.disabled = cam || state.starting || state.loadError !== null;
  el.pause.disabled = !state.ready || !cam;
  el.stop.disabled = !cam;
  el.parity.disabled = !state.ready;
  // calibrating records live frames of a model with an embedding (calibrate.js)
  el.calibrate.disabled = !state.ready || !cam || !state.running || state.calibrating || !state.recognizer?.model.hasEmbedding
    || !state.recognizer?.metadata.weights_sha256;
  el.pause.textContent = cam && !state.running ? 'Resume' : 'Pause';
}
