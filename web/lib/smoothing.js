// Per-face smoothing for video, as face_pipeline.json's "smoothing" defines it (Python's predict
// reads the same section): per tracked face, each time the model reads it,
// probs = alpha * new + (1 - alpha) * previous; a new face starts from its first reading.
// Pure logic (no tf, no DOM).

export class EmaSmoother {
  /** @param {number} alpha  weight of the newest reading, in (0, 1]; 1 = no smoothing */
  constructor(alpha) {
    if (!(alpha > 0 && alpha <= 1)) throw new Error(`smoothing alpha must be in (0, 1], not ${alpha}`);
    this.alpha = alpha;
    /** @type {Map<number, number[]>} */
    this.state = new Map();
  }

  /**
   * The smoothed probabilities of face `id` after this reading.
   * @param {number} id
   * @param {number[]} probs
   * @returns {number[]}
   */
  update(id, probs) {
    const prev = this.state.get(id);
    const a = this.alpha;
    const next = prev ? probs.map((p, k) => a * p + (1 - a) * prev[k]) : probs.slice();
    this.state.set(id, next);
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
