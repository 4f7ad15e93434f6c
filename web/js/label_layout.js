// Where each face's label goes: above its box if there is room, else below, else inside it, always
// wholly inside the canvas, and never on top of a label placed before it. Pure (no DOM), so Node's
// test runner checks it (tests/js/label_layout.test.mjs).

const overlap = (a, b) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
const area = (a, b) => Math.max(0, Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x))
  * Math.max(0, Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y));
const cover = (r, placed) => placed.reduce((s, p) => s + area(r, p), 0);
const fits = (y, h, height) => (y >= 0 && y + h <= height ? 0 : 1);
const clamp = (v, lo, hi) => Math.min(Math.max(v, lo), Math.max(lo, hi));

/**
 * Place one label per box, greedily in the order given.
 * @param {{x: number, y: number, width: number, height: number}[]} boxes  faces, canvas pixels
 * @param {{width: number, height: number}[]} sizes  each label's measured size
 * @param {{width: number, height: number}} canvas
 * @returns {{x: number, y: number, width: number, height: number}[]}  one rectangle per box: inside
 *   the canvas whenever the label fits in it, clear of the labels before it whenever a spot tried is
 */
export function placeLabels(boxes, sizes, canvas) {
  const placed = [];
  boxes.forEach((b, i) => {
    const { width: w, height: h } = sizes[i];
    const at = (x, y) => ({ x: clamp(x, 0, canvas.width - w), y: clamp(y, 0, canvas.height - h), width: w, height: h });
    // preferred spots first: the label reads as the box's caption
    const xs = [b.x, b.x + b.width - w, b.x + (b.width - w) / 2];
    // spots that fit the canvas as they are come before ones pushed in from an edge (which could
    // slide an 'above' label down over the face)
    const ys = [b.y - h, b.y + b.height, b.y, b.y + b.height - h];
    ys.sort((p, q) => fits(p, h, canvas.height) - fits(q, h, canvas.height));
    const preferred = ys.flatMap((y) => xs.map((x) => at(x, y)));
    let best = preferred.find((r) => !placed.some((p) => overlap(r, p)));
    if (!best) {
      // crowded: try the spots touching a placed label (just above, below, left or right of one, or
      // diagonally past two) and take the free one nearest the box
      const around = placed.flatMap((p) => [
        ...xs.flatMap((x) => [at(x, p.y - h), at(x, p.y + p.height)]),
        ...ys.flatMap((y) => [at(p.x - w, y), at(p.x + p.width, y)]),
        ...placed.flatMap((q) => [at(p.x + p.width, q.y + q.height), at(p.x - w, q.y - h)]),
      ]);
      const dist = (r) => Math.hypot(r.x - b.x, r.y + h - b.y);
      const free = around.filter((r) => !placed.some((p) => overlap(r, p))).sort((r, s) => dist(r) - dist(s));
      // no free spot at all (more labels than fit): the preferred spot that covers the least
      best = free[0] ?? preferred.reduce((m, r) => (cover(r, placed) < cover(m, placed) ? r : m));
    }
    placed.push(best);
  });
  return placed;
}

/** Whether two rectangles overlap (tests and callers checking a layout). */
export { overlap };
