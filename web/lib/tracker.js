// Face tracking between detector runs for video. Pure logic (no tf, no DOM), so Node's test runner
// can drive it on scripted box sequences (tests/js/tracker.test.mjs). Every number comes from
// face_pipeline.json ("tracking" and "cadence"), read by the recognizer and by the tests.
// FaceTracker is the reference for its Python twin (predict/tracking.py): tests/conformance/tracker.json,
// computed from this file, holds both to the same ids and boxes; regenerate it when a rule changes here.
//
// Each face is a track with a stable id. When the detector runs, its boxes are matched to the tracks'
// predicted boxes (greedy, highest IoU first; then
// nearest centre within matchDistance box widths); a track follows its detection and updates its velocity.
// Between runs a track's box moves at that velocity (constant-velocity prediction). A track the
// detector misses is hidden at once and dropped after `maxMissed` misses in a row or `maxMissedMs`.
import { iou } from './geometry.js';

const centre = (b) => [b.x + b.width / 2, b.y + b.height / 2];

export class FaceTracker {
  /** cfg: face_pipeline.json's "tracking": {matchIou, matchDistance, maxMissed, maxMissedMs, velocitySmoothing, redetectDrift}. */
  constructor(cfg) {
    this.cfg = cfg;
    this.reset();
  }

  reset() {
    this.tracks = [];
    this.nextId = 1;
  }

  /** A track's box at time t (ms): its last detected box moved by its velocity since then. */
  boxAt(track, t) {
    const dt = Math.max(0, t - track.t);
    const b = track.box;
    return { x: b.x + track.vx * dt, y: b.y + track.vy * dt, width: b.width, height: b.height };
  }

  /** Tracks to show at time t: [{id, box}] for every track the last detection found. */
  predict(t) {
    return this.tracks.filter((tr) => tr.missed === 0).map((tr) => ({ id: tr.id, box: this.boxAt(tr, t), score: tr.score }));
  }

  /**
   * True when the predicted boxes can no longer be trusted: a track was just missed (confirm it left,
   * or find it again), or a track has moved by prediction alone more than `redetectDrift` of its width.
   */
  wantsDetection(t) {
    return this.tracks.some((tr) => tr.missed > 0 ||
      Math.hypot(tr.vx, tr.vy) * Math.max(0, t - tr.t) > this.cfg.redetectDrift * tr.box.width);
  }

  /** Feed one detector run at time t: boxes [{x, y, width, height, score}]. Returns predict(t). */
  update(boxes, t) {
    const { matchIou, matchDistance, maxMissed, maxMissedMs, velocitySmoothing: a } = this.cfg;
    const old = this.tracks;
    const pairs = [];
    old.forEach((tr, j) => {
      const p = this.boxAt(tr, t);
      const [px, py] = centre(p);
      boxes.forEach((b, i) => {
        const o = iou(b, p);
        if (o >= matchIou) {
          pairs.push([1 + o, i, j]);
        } else {
          // a fast face the prediction could not follow yet (no velocity before its second detection):
          // near enough centres and a similar size still match, ranked after every IoU match
          const [bx, by] = centre(b);
          const d = Math.hypot(bx - px, by - py) / Math.max(p.width, p.height);
          const size = b.width / p.width;
          if (d <= matchDistance && size > 0.67 && size < 1.5) pairs.push([1 - d / matchDistance, i, j]);
        }
      });
    });
    pairs.sort((p, q) => q[0] - p[0]);
    const trackOf = new Map(), taken = new Set();
    for (const [, i, j] of pairs) {
      if (trackOf.has(i) || taken.has(j)) continue;
      trackOf.set(i, old[j]);
      taken.add(j);
    }
    // unmatched tracks: hidden now, dropped after maxMissed misses in a row or maxMissedMs unseen
    this.tracks = old.filter((tr, j) => {
      if (taken.has(j)) return true;
      tr.missed += 1;
      return tr.missed < maxMissed && t - tr.seen <= maxMissedMs;
    });
    boxes.forEach((b, i) => {
      const box = { x: b.x, y: b.y, width: b.width, height: b.height };
      const tr = trackOf.get(i);
      if (!tr) {
        this.tracks.push({ id: this.nextId++, box, t, seen: t, vx: 0, vy: 0, missed: 0, hits: 1, score: b.score });
        return;
      }
      const dt = t - tr.t;
      if (dt > 0 && tr.missed === 0) { // velocity from consecutive detections only
        const [x0, y0] = centre(tr.box), [x1, y1] = centre(box);
        const w = tr.hits === 1 ? 1 : a; // the first measurement replaces the initial zero
        tr.vx = w * (x1 - x0) / dt + (1 - w) * tr.vx;
        tr.vy = w * (y1 - y0) / dt + (1 - w) * tr.vy;
      } else {
        tr.vx = tr.vy = 0; // found again after a miss: the old velocity is stale
      }
      Object.assign(tr, { box, t, seen: t, missed: 0, hits: tr.hits + 1, score: b.score });
    });
    return this.predict(t);
  }
}

/**
 * When to run the detector: every `every` frames, chosen from the measured detector time so the
 * frame rate holds (a detector call is spread over the frames between calls), and at least every
 * maxIntervalMs; earlier when the tracker asks (a face missed, or prediction drifted too far).
 * cfg: face_pipeline.json's "cadence": {targetFps, minEvery, maxEvery, maxIntervalMs, timingSmoothing}.
 */
export class DetectionCadence {
  constructor(cfg) {
    this.cfg = cfg;
    this.reset();
  }

  reset() {
    this.detMs = null; // moving averages of one detector call and of a frame's other work
    this.restMs = null;
    this.since = Infinity; // frames since the last detector call
    this.lastT = -Infinity;
    this.every = this.cfg.minEvery;
  }

  /** Should this frame (at time t ms) run the detector? `urgent`: the tracker wants one now. */
  due(t, urgent = false) {
    return urgent || this.since >= this.every || t - this.lastT >= this.cfg.maxIntervalMs;
  }

  /** Record a frame: detMs is the detector's time (null when it did not run), restMs the rest. */
  record(t, detMs, restMs) {
    const k = this.cfg.timingSmoothing;
    const ema = (old, x) => (old === null ? x : k * x + (1 - k) * old);
    this.restMs = ema(this.restMs, restMs);
    if (detMs === null) {
      this.since += 1;
    } else {
      this.detMs = ema(this.detMs, detMs);
      this.since = 1;
      this.lastT = t;
    }
    // frame budget: rest + detMs / every <= 1000 / targetFps
    const spare = 1000 / this.cfg.targetFps - this.restMs;
    const need = this.detMs === null ? this.cfg.minEvery : Math.ceil(this.detMs / Math.max(spare, 1e-3));
    this.every = Math.min(this.cfg.maxEvery, Math.max(this.cfg.minEvery, need));
  }
}

/**
 * Which tracked faces the emotion model reads on a frame (face_pipeline.json's cadence). While reading
 * every face keeps the work on a frame (the recognizer's, plus the page's own that estimateFaces is told
 * as pageMs) within the frame budget (1000 / targetFps, from
 * measured times averaged over at least 2 / timingSmoothing frames, as DetectionCadence does), or with
 * labelMaxAgeMs 0: every face on every frame. On a device too slow for that, a face is read when it
 * is new or its last reading is labelMaxAgeMs old, and keeps its label in between while the tracker
 * moves its box. Faces due together are spread over
 * frames: at most as many a frame as reading each face once per labelMaxAgeMs needs at the measured
 * frame rate, oldest reading first (new faces always).
 */
export class ReadingCadence {
  /** @param {{targetFps: number, timingSmoothing: number, labelMaxAgeMs?: number}} cfg */
  constructor(cfg) {
    this.cfg = cfg;
    this.reset();
  }

  reset() {
    this.readAt = new Map(); // id -> time of its last reading (ms)
    this.lastT = null;
    this.frameMs = null; // moving averages: time between frames, the recognizer's work on a frame,
    this.workMs = null; // and the work the faces it did not read would have added
    this.skippedMs = 0;
    this.modelMs = null; // the model's time per face read
    this.frames = 0; // frames recorded: the averages settle before they decide (the first frame detects and warms up)
  }

  /** Is the device too slow to read every face on every frame within the frame budget? */
  get spreading() {
    return this.cfg.labelMaxAgeMs > 0 && this.frames >= 2 / this.cfg.timingSmoothing
      && this.workMs + this.skippedMs > 1000 / this.cfg.targetFps;
  }

  /**
   * The ids (of the faces tracked on the frame at time t ms) to read on it.
   * @param {number[]} ids
   * @param {number} t
   * @returns {Set<number>}
   */
  choose(ids, t) {
    if (this.lastT !== null && t > this.lastT) this.frameMs = this.ema(this.frameMs, t - this.lastT);
    this.lastT = t;
    if (!this.spreading) return new Set(ids);
    const maxAge = this.cfg.labelMaxAgeMs;
    const fresh = ids.filter((id) => !this.readAt.has(id));
    const due = ids.filter((id) => this.readAt.has(id) && t - this.readAt.get(id) >= maxAge)
      .sort((a, b) => this.readAt.get(a) - this.readAt.get(b));
    const perFrame = Math.max(1, Math.ceil((ids.length * (this.frameMs ?? maxAge)) / maxAge));
    return new Set([...fresh, ...due.slice(0, Math.max(0, perFrame - fresh.length))]);
  }

  /** Face `id` was read on the frame at time t. */
  read(id, t) {
    this.readAt.set(id, t);
  }

  /**
   * Record a frame: the recognizer's work on it (ms), the faces it did not read and the model's time
   * per face read (null when it read none).
   */
  record(workMs, skipped, modelMsPerFace) {
    if (modelMsPerFace !== null) this.modelMs = this.ema(this.modelMs, modelMsPerFace);
    this.workMs = this.ema(this.workMs, workMs);
    this.frames += 1;
    this.skippedMs = this.ema(this.skippedMs, skipped * (this.modelMs ?? 0));
  }

  ema(old, x) {
    const k = this.cfg.timingSmoothing;
    return old === null ? x : k * x + (1 - k) * old;
  }

  /** Forget every face whose id is not in `ids` (its track ended). @param {Iterable<number>} ids */
  retain(ids) {
    const keep = new Set(ids);
    for (const id of this.readAt.keys()) if (!keep.has(id)) this.readAt.delete(id);
  }
}
