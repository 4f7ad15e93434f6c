// Frame rate and median timings over the last frames, shown beside the stage.
import { el } from './dom.js';
import { state } from './state.js';

const WINDOW = 30; // frames behind the fps and the medians
const SHOW_EVERY_MS = 250; // camera frames: the numbers change 4 times a second (readable, no layout per frame)
let lastShown = -Infinity; // when the numbers were last written
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
  lastShown = -Infinity;
}

export function stats() {
  const t = times;
  const fps = t.length > 1 ? ((t.length - 1) * 1000) / (t[t.length - 1] - t[0]) : NaN;
  return { fps, modelMs: median(modelMs), detMs: median(detMs), backend: state.backend, frames: state.frames };
}

/** Show the numbers; `now` (a camera frame's time) holds them for SHOW_EVERY_MS once all three are known. */
export function showStats(now = null) {
  const shown = [el.fps, el.modelMs, el.detMs];
  if (now !== null && now - lastShown < SHOW_EVERY_MS && shown.every((e) => e.textContent !== '–')) return;
  lastShown = now ?? -Infinity;
  const s = stats();
  const texts = [state.mode === 'camera' ? fmt(s.fps) : '–', fmt(s.modelMs), fmt(s.detMs)];
  shown.forEach((e, k) => { if (e.textContent !== texts[k]) e.textContent = texts[k]; });
}
