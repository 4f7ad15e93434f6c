// Per-face smoothing for video, as face_pipeline.json's "smoothing" defines it (Python's predict
// reads the same section): per tracked face, each time the model reads it,
// probs = w * new + (1 - w) * previous; a new face starts from its first reading.
// w is alpha per reading, or with intervalMs > 0 alpha per intervalMs of time:
// w = 1 - (1 - alpha)^(dt / intervalMs), dt = ms since the face's previous reading. On a slow device
// the model reads a face less often (the reading cadence), and a per-reading weight would then
// stretch the smoothing's time constant with it; a per-time weight keeps it. Pure logic (no tf, no DOM).

export class EmaSmoother {
  /**
   * @param {number} alpha  weight of the newest reading, in (0, 1]; 1 = no smoothing
   * @param {number} [intervalMs]  the time alpha is the weight for; 0 = per reading, whatever its time
   */
  constructor(alpha, intervalMs = 0) {
    if (!(alpha > 0 && alpha <= 1)) throw new Error(`smoothing alpha must be in (0, 1], not ${alpha}`);
    if (!(intervalMs >= 0 && Number.isFinite(intervalMs))) throw new Error(`smoothing intervalMs must be >= 0, not ${intervalMs}`);
    this.alpha = alpha;
    this.intervalMs = intervalMs;
    /** @type {Map<number, {probs: number[], t: number | undefined}>} */
    this.state = new Map();
  }

  /**
   * The newest reading's weight dt ms after the previous one: alpha when the weight is per reading
   * or there is no positive dt to scale it by (no timestamps, or two readings at one instant).
   * @param {number} dt
   */
  weight(dt) {
    if (!this.intervalMs || !(dt > 0)) return this.alpha;
    return 1 - Math.pow(1 - this.alpha, dt / this.intervalMs);
  }

  /**
   * The smoothed probabilities of face `id` after this reading, made at `t` ms (needed with intervalMs).
   * @param {number} id
   * @param {number[]} probs
   * @param {number} [t]
   * @returns {number[]}
   */
  update(id, probs, t) {
    const prev = this.state.get(id);
    const a = prev ? this.weight(t - prev.t) : 1;
    const next = prev ? probs.map((p, k) => a * p + (1 - a) * prev.probs[k]) : probs.slice();
    this.state.set(id, { probs: next, t });
    return next;
  }

  /** Forget every face whose id is not in `ids` (its track ended). @param {Iterable<number>} ids */
  retain(ids) {
    const keep = new Set(ids);
    for (const id of this.state.keys()) if (!keep.has(id)) this.state.delete(id);
  }

  reset() {
    this.state.clear();
  }
}
