// The anchor of bench/bench_browser.py: @vladmandic/human doing our page's job on the same fake camera
// (face detection + its emotion model, every other module off, its own frame-skipping defaults on),
// with the same loop shape as web/js/camera.js: one analysis per new camera frame, then draw the labels.
import { Human } from '/human/dist/human.esm.js';

const config = {
  backend: 'wasm',
  wasmPath: '/wasm/',
  modelBasePath: '/human/models/',
  debug: false,
  warmup: 'none', // warmed up below with real camera frames instead of its bundled sample image
  filter: { enabled: false }, // image enhancement: not part of the job
  face: {
    enabled: true,
    detector: { rotation: false, maxDetected: 20, return: false }, // its default maxDetected is 1
    mesh: { enabled: false },
    iris: { enabled: false },
    description: { enabled: false },
    emotion: { enabled: true },
    antispoof: { enabled: false },
    liveness: { enabled: false },
    attention: { enabled: false },
  },
  body: { enabled: false },
  hand: { enabled: false },
  object: { enabled: false },
  gesture: { enabled: false },
  segmentation: { enabled: false },
};

const video = document.getElementById('video');
const canvas = document.getElementById('canvas');
const ctx = canvas.getContext('2d');
const human = new Human(config);
const calls = { detector: 0, detectorMs: 0, emotion: 0, emotionMs: 0 };
const state = { frames: 0, frameLog: null, results: [] };

/** Count (and time) every run of a model Human loaded; wasm kernels run inside execute(). */
function count(model, name) {
  const execute = model.execute.bind(model);
  model.execute = (...args) => {
    const t0 = performance.now();
    const out = execute(...args);
    calls[name] += 1;
    calls[`${name}Ms`] += performance.now() - t0;
    return out;
  };
}

async function start() {
  await human.load();
  await human.tf.ready();
  count(human.models.models.blazeface, 'detector');
  count(human.models.models.emotion, 'emotion');
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 }, audio: false });
  video.srcObject = stream;
  await video.play();
  let arrival = null, waiting = false, busy = false;
  const step = async () => {
    waiting = false;
    const t0 = performance.now(), at = arrival, before = { ...calls };
    const result = await human.detect(video);
    ctx.drawImage(video, 0, 0);
    ctx.font = '600 15px system-ui, sans-serif';
    ctx.lineWidth = 2.5;
    for (const f of result.face) {
      const [x, y, w, h] = f.box;
      ctx.strokeStyle = ctx.fillStyle = '#30a46c';
      ctx.strokeRect(x, y, w, h);
      ctx.fillText(`${f.emotion?.[0]?.emotion ?? '?'} ${Math.round(100 * (f.emotion?.[0]?.score ?? 0))}%`, x + 4, y - 4);
    }
    state.results = result.face.map((f) => ({ box: f.box, label: f.emotion?.[0]?.emotion }));
    state.frames += 1;
    const now = performance.now();
    const ran = calls.emotion - before.emotion;
    state.frameLog?.push({ t: now, arrival: at, workMs: now - t0, faces: result.face.length,
      detMs: calls.detector > before.detector ? calls.detectorMs - before.detectorMs : null,
      modelMs: ran ? (calls.emotionMs - before.emotionMs) / ran : null });
  };
  const schedule = () => {
    if (busy || !waiting) return;
    busy = true;
    setTimeout(() => step().finally(() => { busy = false; schedule(); }), 0);
  };
  const onFrame = (now, meta) => {
    arrival = meta?.captureTime ?? meta?.presentationTime ?? now;
    waiting = true;
    schedule();
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

window.humanBench = {
  state,
  calls,
  info: () => ({ version: human.version, backend: human.tf.getBackend(),
    threads: human.tf.getBackend() === 'wasm' ? human.tf.getThreadsCount?.() ?? null : null }),
  ready: start().then(() => true, (err) => { console.error(err); return String(err); }),
};
