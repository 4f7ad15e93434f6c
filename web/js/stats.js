// Frame rate and median timings over the last frames, shown beside the stage.
import { el } from './dom.js';
import { state } from './state.js';

const WINDOW = 30; // frames behind the fps and the medians
const times = [], modelMs = [], detMs = [];

const push = (xs, x) => { xs.push(x); if (xs.length > WINDOW) xs.shift(); };
const fmt = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '–');
function median(xs) {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Record one analysis (the recognizer's lastTimings); `shownAt` for camera frames. */
export function recordTimings(timings, shownAt = null) {
  if (timings?.detectorMs != null) push(detMs, timings.detectorMs);
  if (timings?.modelMs != null) push(modelMs, timings.modelMs);
  if (shownAt !== null) push(times, shownAt);
}

export function resetStats() {
  for (const xs of [times, modelMs, detMs]) xs.length = 0;
}

export function stats() {
  const t = times;
  const fps = t.length > 1 ? ((t.length - 1) * 1000) / (t[t.length - 1] - t[0]) : NaN;
  return { fps, modelMs: median(modelMs), detMs: median(detMs), backend: state.backend, frames: state.frames };
}

export function showStats() {
  const s = stats();
  el.fps.textContent = state.mode === 'camera' ? fmt(s.fps) : '–';
  el.modelMs.textContent = fmt(s.modelMs);
  el.detMs.textContent = fmt(s.detMs);
}
