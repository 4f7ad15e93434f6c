// The page: camera controls, photo upload, drawing, stats. The camera loop lives in live.js (tracking
// in tracker.js), model code in model.js, face detection in detector.js; nothing here knows class
// names or input sizes (metadata.json does).
import { initBackend, EmotionModel } from './model.js';
import { FaceDetector } from './detector.js';
import { FaceSmoother } from './smoothing.js';
import { runParity } from './parity.js';
import { LiveLoop, loadLiveConfig } from './live.js';
import { checkUpload, InputRejected } from './input_policy.js';

const MODEL_URL = '/model';
const MAX_PHOTO_SIDE = 1600; // larger photos are scaled down before detection
const STATS_WINDOW = 30; // frames behind the fps and median timings
const COLORS = ['#e5484d', '#8e4ec6', '#f76b15', '#30a46c', '#0090ff', '#ffc53d', '#8d8d8d', '#d6409f'];

const $ = (id) => document.getElementById(id);
const el = {
  start: $('start'), pause: $('pause'), stop: $('stop'), file: $('file'), smooth: $('smooth'),
  smoothN: $('smooth-n'), backend: $('backend'), message: $('message'), stage: $('stage'),
  video: $('video'), canvas: $('canvas'), hint: $('drop-hint'), status: $('status'),
  backendName: $('backend-name'), fps: $('fps'), modelMs: $('model-ms'), detMs: $('det-ms'),
  faces: $('faces'), parity: $('parity'), parityResult: $('parity-result'),
};
const ctx = el.canvas.getContext('2d', { willReadFrequently: true });

const state = {
  model: null, detector: null, backend: null, ready: false,
  stream: null, mode: 'idle', running: false, // mode: idle | camera | photo
  frames: 0, results: [], times: [], modelMs: [], detMs: [], frameLog: null, live: null,
};
const smoother = new FaceSmoother(Number(el.smoothN.value));
const liveConfig = loadLiveConfig();

// ---------- messages and stats ----------

function showMessage(text, kind = 'info') {
  el.message.textContent = text;
  el.message.className = `message ${kind}`;
  el.message.hidden = false;
}

function clearMessage() {
  el.message.hidden = true;
  el.message.textContent = '';
}

const median = (xs) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const push = (xs, x) => { xs.push(x); if (xs.length > STATS_WINDOW) xs.shift(); };
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');

function stats() {
  const t = state.times;
  const fps = t.length > 1 ? ((t.length - 1) * 1000) / (t[t.length - 1] - t[0]) : NaN;
  return { fps, modelMs: median(state.modelMs), detMs: median(state.detMs), backend: state.backend, frames: state.frames };
}

function showStats() {
  const s = stats();
  el.fps.textContent = state.mode === 'camera' ? fmt(s.fps) : '–';
  el.modelMs.textContent = fmt(s.modelMs);
  el.detMs.textContent = fmt(s.detMs);
}

function resetStats() {
  state.times = []; state.modelMs = []; state.detMs = [];
}

// ---------- model loading and backend ----------

async function load(backendName) {
  state.ready = false;
  setButtons();
  el.status.textContent = 'loading model…';
  state.model?.dispose();
  state.detector?.dispose();
  state.model = state.detector = null;
  state.backend = await initBackend(backendName);
  el.backendName.textContent = state.backend;
  el.backend.value = state.backend;
  if (state.backend !== backendName) showMessage(`The ${backendName} backend is not available here; using ${state.backend}.`);
  [state.model, state.detector] = await Promise.all([EmotionModel.load(MODEL_URL), FaceDetector.load()]);
  let config = await liveConfig;
  const every = Number(params.get('detect-every')); // a fixed detector cadence, for bench/ ablations
  if (every >= 1) config = { ...config, cadence: { ...config.cadence, minEvery: every, maxEvery: every, maxIntervalMs: Infinity } };
  if (!state.live) { // first load: the smoothing default comes from the live-view settings
    smoother.frames = config.smoothing.frames;
    el.smoothN.value = String(config.smoothing.frames);
  }
  state.live ??= new LiveLoop({
    video: el.video, canvas: el.canvas, ctx, config, smoother,
    getModels: () => (state.ready ? { detector: state.detector, model: state.model } : null),
    render: showLiveFrame,
    options: { detectorInput: params.get('detector-input') ?? undefined, modelInput: params.get('model-input') ?? undefined },
  });
  resetStats();
  state.ready = true;
  el.status.textContent = 'ready';
  setButtons();
}

function setButtons() {
  const cam = state.mode === 'camera';
  el.start.disabled = !state.ready || cam;
  el.pause.disabled = !state.ready || !cam;
  el.stop.disabled = !cam;
  el.parity.disabled = !state.ready;
  el.pause.textContent = cam && !state.running ? 'Resume' : 'Pause';
}

// ---------- analysis and drawing ----------

/** Detect and classify every face on the canvas (which holds the frame or photo). */
function analyse(smooth) {
  const rgb = tf.browser.fromPixels(el.canvas, 3); // read the pixels once for detector and model
  let results;
  try {
    const t0 = performance.now();
    const boxes = state.detector.detect(rgb).sort((a, b) => a.x - b.x); // faces numbered left to right
    push(state.detMs, performance.now() - t0);
    results = state.model.classify(rgb, boxes);
  } finally {
    rgb.dispose();
  }
  if (results.length) push(state.modelMs, results[0].ms);
  if (smooth) results = smoother.update(results, state.model.classes);
  state.results = results;
  return results;
}

function drawOverlays(results) {
  // same size on screen whatever the photo's resolution (canvas pixels per CSS pixel)
  const scale = el.canvas.width / (el.canvas.clientWidth || el.canvas.width);
  const lw = 2.5 * scale, fontPx = Math.round(15 * scale);
  ctx.font = `600 ${fontPx}px system-ui, sans-serif`;
  ctx.textBaseline = 'bottom';
  results.forEach((r, i) => {
    const { x, y, width, height } = r.box;
    const color = COLORS[r.top % COLORS.length];
    ctx.lineWidth = lw;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, width, height);
    const text = `${i + 1}: ${r.label} ${Math.round(100 * r.probs[r.top])}%`;
    const tw = ctx.measureText(text).width + 8;
    const ty = y - fontPx - 6 < 0 ? y + height + fontPx + 6 : y; // below the box when no room above
    ctx.fillStyle = color;
    ctx.fillRect(x - lw / 2, ty - fontPx - 6, tw, fontPx + 6);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x + 4 - lw / 2, ty - 3);
  });
}

function renderFaces(results) {
  const classes = state.model.classes;
  if (el.faces.children.length !== results.length) {
    el.faces.replaceChildren(...results.map(() => {
      const li = document.createElement('li');
      li.className = 'face';
      li.append(document.createElement('h2'));
      classes.forEach((name) => {
        const row = document.createElement('div');
        row.className = 'bar';
        row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
        row.querySelector('.name').textContent = name;
        li.append(row);
      });
      return li;
    }));
  }
  results.forEach((r, i) => {
    const li = el.faces.children[i];
    li.style.setProperty('--c', COLORS[r.top % COLORS.length]);
    li.dataset.label = r.label;
    li.querySelector('h2').textContent = `Face ${i + 1}: ${r.label} (${Math.round(100 * r.probs[r.top])}%)`;
    li.querySelectorAll('.bar').forEach((row, k) => {
      const p = 100 * r.probs[k];
      row.querySelector('.fill').style.width = `${p.toFixed(1)}%`;
      row.querySelector('.pct').textContent = `${p.toFixed(0)}%`;
    });
  });
}

// ---------- camera ----------

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

async function startCamera() {
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
  setButtons();
  state.live.smooth = el.smooth.checked;
  state.live.start(stream);
}

/** The live loop's render callback: draw one analysed camera frame and record its timings. */
function showLiveFrame(results, frame) {
  state.results = results;
  if (frame.detMs !== null) push(state.detMs, frame.detMs);
  if (frame.modelMs !== null) push(state.modelMs, frame.modelMs);
  drawOverlays(results);
  renderFaces(results);
  state.frames += 1;
  const now = performance.now();
  push(state.times, now);
  // bench/bench_browser.py sets frameLog = [] to record every frame (arrival: the frame reached the page)
  state.frameLog?.push({ t: now, arrival: frame.arrival, workMs: now - frame.start, faces: results.length,
    detMs: frame.detMs, modelMs: frame.modelMs, every: frame.every, ids: results.map((r) => r.id),
    boxes: results.map((r) => r.box), audit: frame.audit });
  showStats();
}

function togglePause() {
  state.running = !state.running;
  if (state.running) resetStats();
  state.live?.setRunning(state.running);
  setButtons();
}

function stopCamera() {
  state.live?.stop();
  state.stream?.getTracks().forEach((t) => t.stop());
  state.stream = null;
  el.video.srcObject = null;
  state.running = false;
  if (state.mode === 'camera') {
    state.mode = 'idle';
    ctx.clearRect(0, 0, el.canvas.width, el.canvas.height);
    el.faces.replaceChildren();
    el.hint.hidden = false;
    state.results = [];
  }
  showStats();
  setButtons();
}

// ---------- photo upload ----------

async function decodePhoto(file) {
  await checkUpload(file); // web/input_policy.json: size, format by its first bytes, header dimensions
  try {
    return await createImageBitmap(file, { imageOrientation: 'from-image' }); // honours EXIF orientation
  } catch {
    throw new InputRejected('corrupt', `"${file.name}" could not be read as an image. It is truncated or damaged.`);
  }
}

/** Take the previous photo off the screen, so a refused upload never leaves its results showing. */
function clearPhoto() {
  if (state.mode !== 'photo') return;
  state.mode = 'idle';
  state.results = [];
  ctx.clearRect(0, 0, el.canvas.width, el.canvas.height);
  el.faces.replaceChildren();
  el.hint.hidden = false;
  showStats();
}

async function showPhoto(file) {
  if (!state.ready) return;
  clearMessage();
  state.upload = { name: file.name, accepted: null, reason: null }; // read by tests/test_input_policy.py
  let bitmap;
  try {
    bitmap = await decodePhoto(file);
  } catch (err) {
    const refused = err instanceof InputRejected; // otherwise the policy itself could not be loaded
    state.upload = { name: file.name, accepted: false, reason: refused ? err.reason : 'error' };
    clearPhoto();
    showMessage(refused ? err.message : `Could not check "${file.name}": ${err.message}`, 'error');
    return;
  }
  state.upload = { name: file.name, accepted: true, reason: null };
  stopCamera();
  const s = Math.min(1, MAX_PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
  el.canvas.width = Math.round(bitmap.width * s);
  el.canvas.height = Math.round(bitmap.height * s);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, el.canvas.width, el.canvas.height);
  bitmap.close();
  state.mode = 'photo';
  el.hint.hidden = true;
  resetStats();
  const results = analyse(false);
  drawOverlays(results);
  renderFaces(results);
  showStats();
  setButtons();
  if (!results.length) showMessage(`No face found in "${file.name}".`);
}

// ---------- parity ----------

async function checkParity() {
  el.parity.disabled = true;
  el.parityResult.textContent = 'running…';
  delete el.parityResult.dataset.pass;
  try {
    const r = await runParity(state.model, MODEL_URL);
    const table = document.createElement('table');
    const pct = (x) => `${(100 * x).toFixed(1)}%`;
    const gate = [`|Δ| ≤ ${r.gate.max_abs_dprob.toExponential(0)}`];
    if (r.gate.top1_agreement !== undefined) gate.push(`top-1 ≥ ${pct(r.gate.top1_agreement)}`);
    if (r.gate.top1_agreement_faces !== undefined) gate.push(`top-1 on faces ≥ ${pct(r.gate.top1_agreement_faces)}`);
    const rows = [
      ['Reference inputs', `${r.n} (${r.faces} faces)`],
      ['max |Δ| probability', r.maxAbs.toExponential(2)],
      ['Top-1 agreement', `${r.agree}/${r.n} (${pct(r.top1)}); faces ${r.agreeFaces}/${r.faces}`],
      ['Gate', gate.join(', ')],
      ['Backend', `${tf.getBackend()}, ${r.ms.toFixed(0)} ms`],
      ['Result', r.pass ? 'PASS' : 'FAIL'],
    ];
    rows.forEach(([k, v]) => {
      const tr = table.insertRow();
      tr.insertCell().textContent = k;
      tr.insertCell().textContent = v;
    });
    table.rows[rows.length - 1].cells[1].className = r.pass ? 'pass' : 'fail';
    el.parityResult.replaceChildren(table);
    el.parityResult.dataset.pass = String(r.pass);
    window.ferApp.parity = r;
  } catch (err) {
    el.parityResult.textContent = `Parity check failed to run: ${err.message}`;
    el.parityResult.dataset.pass = 'false';
  }
  el.parity.disabled = false;
}

// ---------- wiring ----------

el.start.addEventListener('click', startCamera);
el.pause.addEventListener('click', togglePause);
el.stop.addEventListener('click', stopCamera);
el.file.addEventListener('change', () => {
  if (el.file.files[0]) showPhoto(el.file.files[0]);
  el.file.value = ''; // choosing the same file again still fires
});
el.smoothN.addEventListener('change', () => {
  smoother.frames = Math.min(30, Math.max(2, Number(el.smoothN.value) || 5));
});
el.smooth.addEventListener('change', () => {
  smoother.reset();
  if (state.live) state.live.smooth = el.smooth.checked;
});
el.parity.addEventListener('click', checkParity);
el.backend.addEventListener('change', async () => {
  const resume = state.mode === 'camera' && state.running;
  state.running = false;
  state.live?.setRunning(false);
  await load(el.backend.value).catch(fatal);
  if (resume) togglePause();
});

// Drop a photo on the stage; dropping elsewhere must not navigate away from the page.
for (const type of ['dragover', 'drop']) document.addEventListener(type, (e) => e.preventDefault());
el.stage.addEventListener('dragover', () => el.stage.classList.add('dragover'));
el.stage.addEventListener('dragleave', () => el.stage.classList.remove('dragover'));
el.stage.addEventListener('drop', (e) => {
  el.stage.classList.remove('dragover');
  const file = e.dataTransfer.files[0];
  if (file) showPhoto(file);
});

function fatal(err) {
  el.status.textContent = 'error';
  showMessage(`Could not load the model: ${err.message}`, 'error');
}

// Read-only hooks for tests and the benchmark (tests/test_web.py, bench/bench_browser.py).
const params = new URLSearchParams(location.search);
window.ferApp = {
  state,
  stats,
  results: () => state.results.map((r) => ({ box: r.box, label: r.label, probs: r.probs, id: r.id })),
  numTensors: () => tf.memory().numTensors,
  live: () => state.live && { frames: state.live.frames, detectorCalls: state.live.detectorCalls,
    every: state.live.cadence.every, tracks: state.live.tracker.tracks.map((t) => ({ id: t.id, missed: t.missed })),
    threads: tf.getBackend() === 'wasm' ? tf.wasm.getThreadsCount?.() ?? 1 : null },
  ready: load(params.get('backend') || 'wasm').then(() => true, (err) => { fatal(err); return false; }),
};
