// Per-face smoothing for the live view: follow each face from frame to frame (box overlap) and
// average its class probabilities over its last N frames, so the label does not flicker.

function iou(a, b) {
  const x1 = Math.max(a.x, b.x), y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.width, b.x + b.width), y2 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  return inter / (a.width * a.height + b.width * b.height - inter);
}

export class FaceSmoother {
  constructor(frames = 5, minIou = 0.3, keepMissing = 5) {
    this.frames = frames;
    this.minIou = minIou; // a face matches a track when their boxes overlap at least this much
    this.keepMissing = keepMissing; // frames a track survives without its face (a blink of the detector)
    this.nextId = 1;
    this.reset();
  }

  reset() {
    this.tracks = [];
    this.byId = new Map();
    this.frame = 0;
  }

  /**
   * Like update(), for results that already carry a stable `id` (the live view's tracker): each id
   * keeps its own history; an id unseen for `forgetAfter` frames is forgotten.
   */
  updateTracked(results, classes, forgetAfter = 30) {
    this.frame += 1;
    const out = results.map((r) => {
      let h = this.byId.get(r.id);
      if (!h) this.byId.set(r.id, (h = { probs: [], frame: 0 }));
      h.frame = this.frame;
      h.probs.push(r.probs);
      if (h.probs.length > this.frames) h.probs.splice(0, h.probs.length - this.frames);
      const probs = r.probs.map((_, k) => h.probs.reduce((s, p) => s + p[k], 0) / h.probs.length);
      const top = probs.indexOf(Math.max(...probs));
      return { ...r, probs, top, label: classes[top] };
    });
    for (const [id, h] of this.byId) if (this.frame - h.frame > forgetAfter) this.byId.delete(id);
    return out;
  }

  /** results: [{box, probs, ...}] -> same objects with probs averaged per track, top/label/id updated. */
  update(results, classes) {
    const pairs = [];
    results.forEach((r, i) => this.tracks.forEach((t, j) => {
      const o = iou(r.box, t.box);
      if (o >= this.minIou) pairs.push([o, i, j]);
    }));
    pairs.sort((a, b) => b[0] - a[0]);
    const trackOf = new Map(), taken = new Set();
    for (const [, i, j] of pairs) {
      if (trackOf.has(i) || taken.has(j)) continue;
      trackOf.set(i, this.tracks[j]);
      taken.add(j);
    }
    this.tracks.forEach((t, j) => { if (!taken.has(j)) t.missing += 1; });
    this.tracks = this.tracks.filter((t) => t.missing <= this.keepMissing);
    return results.map((r, i) => {
      let t = trackOf.get(i);
      if (!t) {
        t = { id: this.nextId++, history: [], missing: 0 };
        this.tracks.push(t);
      }
      t.box = r.box;
      t.missing = 0;
      t.history.push(r.probs);
      if (t.history.length > this.frames) t.history.splice(0, t.history.length - this.frames);
      const probs = r.probs.map((_, k) => t.history.reduce((s, p) => s + p[k], 0) / t.history.length);
      const top = probs.indexOf(Math.max(...probs));
      return { ...r, id: t.id, probs, top, label: classes[top] };
    });
  }
}
