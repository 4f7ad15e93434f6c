// The emotion timeline of a camera session: each tracked face's probabilities over time, drawn as a
// small chart (one band per face, one line per class) and offered as CSV (time, face id, one column
// per class, in the model's class order, or the profile's classes while one is on).
import { el } from './dom.js';
import { classColor } from './draw.js';

const MIN_GAP_MS = 100; // at most 10 samples per second per face
const MAX_ROWS = 100000; // beyond this, every other sample of each face is dropped (the whole session stays)
const MAX_BANDS = 4; // faces drawn: the ones seen last
const DRAW_EVERY_MS = 250;

function csvField(text) {
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

class Timeline {
  constructor() {
    this.classes = [];
    this.rows = []; // {t (s since start), id, probs[]}
    this.byId = new Map(); // face id -> its rows, in order; ids in the order first seen
    this.t0 = 0;
    this.gap = MIN_GAP_MS;
    this.last = new Map(); // face id -> time of its last sample (ms)
    this.drawnAt = -Infinity;
    this.drawn = {}; // points the last draw put on the chart, per face id
  }

  /** A new camera session: forget the previous one. */
  start(t0, classes) {
    Object.assign(this, { t0, classes, rows: [], byId: new Map(), gap: MIN_GAP_MS, last: new Map(), drawnAt: -Infinity });
    this.legend();
    this.draw();
  }

  /**
   * Record the faces of a frame shown at time t (ms, performance.now() time base), read over `classes`.
   * A frame read over other classes than the session's (a profile switched on or off as it ran) is left
   * out: the page starts a new session when the classes change.
   */
  add(t, faces, classes = this.classes) {
    if (classes.length !== this.classes.length || classes.some((c, k) => c !== this.classes[k])) return;
    for (const f of faces) {
      if (f.id === undefined || t - (this.last.get(f.id) ?? -Infinity) < this.gap) continue;
      this.last.set(f.id, t);
      this.push({ t: (t - this.t0) / 1000, id: f.id, probs: this.classes.map((c) => f.probabilities[c]) });
    }
    if (this.rows.length > MAX_ROWS) {
      // every other sample of each face, its first kept: a face seen once keeps its one sample
      const keep = new Set();
      for (const list of this.byId.values()) list.forEach((r, i) => { if (i % 2 === 0) keep.add(r); });
      const kept = this.rows.filter((r) => keep.has(r));
      this.gap *= 2;
      this.rows = [];
      this.byId = new Map(); // rare (each time the session doubles): rebuilt from what is kept
      for (const r of kept) this.push(r);
    }
    if (t - this.drawnAt >= DRAW_EVERY_MS) this.draw(t);
  }

  /** Keep one sample {t (s), id, probs} (add() decides which; the bench and tests fill sessions with it). */
  push(row) {
    this.rows.push(row);
    if (!this.byId.has(row.id)) this.byId.set(row.id, []);
    this.byId.get(row.id).push(row);
  }

  /** The session ended: draw what it recorded. */
  stop() {
    this.draw();
  }

  /** Samples recorded per face id (tests; the chart draws at most one per pixel column: `drawn`). */
  points() {
    const n = {};
    for (const r of this.rows) n[r.id] = (n[r.id] ?? 0) + 1;
    return n;
  }

  csv() {
    const head = ['time_s', 'face_id', ...this.classes].map(csvField).join(',');
    const lines = this.rows.map((r) => [r.t.toFixed(3), r.id, ...r.probs.map((p) => p.toFixed(6))].join(','));
    return `${[head, ...lines].join('\n')}\n`;
  }

  download() {
    const url = URL.createObjectURL(new Blob([this.csv()], { type: 'text/csv' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = `emotion-timeline-${new Date().toISOString().slice(0, 19).replace(/:/g, '-')}.csv`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  legend() {
    el.timelineLegend.replaceChildren(...this.classes.map((name, k) => {
      const item = document.createElement('span');
      item.style.setProperty('--c', classColor(k));
      item.textContent = name;
      return item;
    }));
  }

  draw(now = null) {
    if (now !== null) this.drawnAt = now;
    const canvas = el.timeline, g = canvas.getContext('2d');
    const { width: W, height: H } = canvas;
    g.clearRect(0, 0, W, H);
    // the draw's cost stays flat however long the session: no pass over every row recorded
    const ids = [...this.byId.keys()].slice(-MAX_BANDS);
    el.downloadCsv.disabled = this.rows.length === 0;
    el.timelineNote.textContent = this.rows.length ? `${this.rows.length} samples, ${ids.length} face(s) shown`
      : 'Start the camera: each face\'s emotions are recorded here.';
    if (!ids.length) return;
    const span = Math.max(10, this.rows[this.rows.length - 1].t); // seconds on the x axis
    const band = H / ids.length, pad = 4, left = 34;
    g.font = '11px system-ui, sans-serif';
    g.textBaseline = 'top';
    this.drawn = {};
    ids.forEach((id, b) => {
      const top = b * band + pad, h = band - 2 * pad;
      g.fillStyle = '#f0f1f4';
      g.fillRect(left, top, W - left, h);
      g.fillStyle = '#5b6270';
      g.fillText(`id ${id}`, 2, top);
      // at most one point per pixel column: a long session (tens of thousands of samples) would
      // otherwise cost more to draw, four times a second, than the live loop itself on a slow device
      const all = this.byId.get(id);
      const step = Math.max(1, Math.ceil(all.length / (W - left)));
      const rows = [];
      for (let i = 0; i < all.length; i += step) rows.push(all[i]);
      if ((all.length - 1) % step !== 0) rows.push(all[all.length - 1]);
      this.drawn[id] = rows.length;
      this.classes.forEach((_, k) => {
        g.strokeStyle = classColor(k);
        g.lineWidth = 1.5;
        g.beginPath();
        rows.forEach((r, i) => {
          const x = left + (r.t / span) * (W - left), y = top + (1 - r.probs[k]) * h;
          if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
        });
        g.stroke();
      });
    });
    g.fillStyle = '#5b6270';
    g.textBaseline = 'bottom';
    g.fillText(`${span.toFixed(0)} s`, W - 30, H);
  }
}

export const timeline = new Timeline();
