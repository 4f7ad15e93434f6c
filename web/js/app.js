// The page, on top of the fer-browser library (web/lib): loads a recognizer for the chosen backend
// and wires the controls. Camera: camera.js (controls) and loop.js (frames); photos: upload.js;
// drawing: draw.js; numbers: stats.js; timeline: timeline.js; parity panel: parity.js; "Calibrate to
// me": calibrate.js, its profile bar profile_bar.js (profile_store.js keeps the profile); test hooks: hooks.js.
import { createRecognizer, PRIOR_STRENGTH_RANGE } from 'fer-browser';
import { registerBackend } from './backends.js';
import { wireCalibration } from './calibrate.js';
import { restoreProfile, wireProfileBar } from './profile_bar.js';
import { createLoop, setButtons, startCamera, stopCamera, togglePause } from './camera.js';
import { el, showMessage } from './dom.js';
import { installHooks } from './hooks.js';
import { state } from './state.js';
import { resetStats } from './stats.js';
import { timeline } from './timeline.js';
import { reanalysePhoto, wireUploads } from './upload.js';

// Where server.py serves things; the wasm files sit beside the backend the import map names.
const MODEL_URL = new URL('model/', document.baseURI);
const PIPELINE_URL = new URL('face_pipeline.json', document.baseURI);
const DETECTOR_WEIGHTS_URL = new URL('vendor/blazeface/blazeface.json', document.baseURI);
const WASM_URL = new URL('.', import.meta.resolve('@tensorflow/tfjs-backend-wasm')).href;

// bench/ ablations: ?detect-every=N fixes the detector's cadence; ?max-interval-ms=N changes the
// longest time between two detections; ?detector-input=full and ?model-input=full read the whole frame;
// ?detector-letterbox=on pads the live detector's input to its square (as before it kept the frame's aspect)
const params = new URLSearchParams(location.search);
const every = Number(params.get('detect-every'));
const interval = Number(params.get('max-interval-ms'));
// (the schema's longest maxIntervalMs, a minute: overrides are held to the file's bounds, and JSON has no Infinity)
const pipeline = every >= 1 ? { cadence: { minEvery: every, maxEvery: every, maxIntervalMs: 60000 } }
  : interval > 0 ? { cadence: { maxIntervalMs: interval } } : {};
// ?label-max-age-ms=N: on a device too slow to read every face on every frame, the model reads a tracked
// face when its label is N ms old (0: every face, every frame, however slow)
if (params.has('label-max-age-ms')) pipeline.cadence = { ...pipeline.cadence, labelMaxAgeMs: Number(params.get('label-max-age-ms')) };
// ?detector-size=N: BlazeFace's square input (face_pipeline.json's 256); ?wasm-threads=N: TF.js's wasm
// thread pool (its default is half the cores, at most 4; threads need the page cross-origin isolated)
const detectorSize = Number(params.get('detector-size'));
if (detectorSize > 0) pipeline.detector = { inputSize: detectorSize };
const wasmThreads = Number(params.get('wasm-threads'));
const ablations = {
  ...(params.get('detector-input') === 'full' && { detectorInput: 'full' }),
  ...(params.get('model-input') === 'full' && { modelInput: 'full' }),
  ...(params.get('detector-letterbox') === 'on' && { detectorLetterbox: true }),
};

/** Load (or re-load) the recognizer; state.loading lets a camera started meanwhile wait for it. */
function load(backend) {
  state.loadError = null;
  state.loading = loadRecognizer(backend).catch((err) => { state.loadError = err; setButtons(); throw err; });
  return state.loading;
}

async function loadRecognizer(backend) {
  state.ready = false;
  setButtons();
  el.status.textContent = 'loading model…';
  await state.live?.idle(); // never dispose a recognizer while a frame is using it
  state.recognizer?.dispose();
  state.recognizer = null;
  await registerBackend(backend);
  if (wasmThreads >= 1 && backend === 'wasm') (await import('@tensorflow/tfjs-backend-wasm')).setThreadsCount(wasmThreads);
  const r = await createRecognizer({ modelUrl: MODEL_URL, detectorUrl: PIPELINE_URL, detectorWeightsUrl: DETECTOR_WEIGHTS_URL,
    backend, wasmPaths: WASM_URL, pipeline });
  state.recognizer = r;
  state.backend = r.backend;
  state.threads = r.backend === 'wasm' ? (await import('@tensorflow/tfjs-backend-wasm')).getThreadsCount() : null;
  el.backendName.textContent = r.backend;
  el.backend.value = r.backend;
  if (r.backend !== backend) showMessage(`The ${backend} backend is not available here; using ${r.backend}.`);
  const { alpha, intervalMs } = r.config.smoothing;
  el.smoothAlpha.textContent = intervalMs ? `${alpha} per ${Math.round(intervalMs)} ms` : String(alpha);
  showBalance(r);
  // `python -m convert --synthetic` publishes without measuring accuracy: say so (absent = older export)
  el.modelNote.hidden = r.metadata.accuracy_checked !== false;
  state.live ??= createLoop(ablations);
  resetStats();
  state.ready = true;
  restoreProfile(); // the profile this browser keeps for this model, on the new recognizer
  el.status.textContent = 'ready';
  performance.mark('fer-ready'); // bench/bench_bytes.py times the model's load by it
  setButtons();
}

/** The Balanced slider: the recognizer's prior strength; disabled for a model without a prior. */
function showBalance(r) {
  const hasPrior = r.model.prior !== null;
  if (hasPrior && state.priorStrength !== null) r.priorStrength = state.priorStrength;
  [el.balance.min, el.balance.max] = PRIOR_STRENGTH_RANGE.map(String); // the schema's bounds, not a copy
  el.balance.disabled = !hasPrior;
  el.balance.value = String(r.priorStrength);
  el.balanceValue.textContent = String(r.priorStrength);
  el.balanceNote.classList.toggle('off', !hasPrior);
  if (!hasPrior) el.balance.title = 'This model has no prior in its metadata.json (python -m training.prior --write)';
}

let refresh = Promise.resolve(); // one re-analysis at a time, in order
el.balance.addEventListener('input', () => { el.balanceValue.textContent = el.balance.value; });
el.balance.addEventListener('change', () => {
  const tau = Number(el.balance.value);
  refresh = refresh.then(async () => {
    if (!state.recognizer) return;
    state.recognizer.priorStrength = tau;
    state.priorStrength = tau;
    await reanalysePhoto(); // camera frames pick it up by themselves
  }).catch((err) => showMessage(`Could not apply Balanced: ${err.message}`, 'error'));
});

function fatal(err) {
  el.status.textContent = 'error';
  showMessage(`Could not load the model: ${err.message}`, 'error');
}

// a click on Start before this code was wired has the camera opening already (camera_early.js)
const early = self.ferCamera.takeOver();
el.start.addEventListener('click', () => startCamera());
if (early.clicked) startCamera(early.stream);
el.pause.addEventListener('click', togglePause);
el.stop.addEventListener('click', stopCamera);
el.smooth.addEventListener('change', () => { if (state.live) state.live.smooth = el.smooth.checked; });
el.parity.addEventListener('click', () => import('./parity.js').then((m) => m.checkParity(MODEL_URL))); // fetched on first use
el.downloadCsv.addEventListener('click', () => timeline.download());
el.backend.addEventListener('change', async () => {
  const resume = state.mode === 'camera' && state.running;
  state.running = false;
  state.live?.setRunning(false);
  await load(el.backend.value).catch(fatal);
  if (resume) togglePause();
});
wireUploads();
wireCalibration();
wireProfileBar();

installHooks(load(params.get('backend') || 'wasm').then(() => true, (err) => { fatal(err); return false; }));
