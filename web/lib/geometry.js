// Box geometry shared by the detector, the tracker and the face crop: the one `iou` on the JS side.
// Pure functions (no tf, no DOM), so Node's test runner can import them.

/** @typedef {{x: number, y: number, width: number, height: number}} Box  frame pixels, top-left origin */

/**
 * Intersection over union of two boxes (0 when they do not overlap or are empty).
 * @param {Box} a
 * @param {Box} b
 * @returns {number}
 */
export function iou(a, b) {
  const x1 = Math.max(a.x, b.x), y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.width, b.x + b.width), y2 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/**
 * The square the emotion model sees for a detector box, per the model's metadata.crop
 * ({scale, shift_y}): side = scale * max(w, h), centre moved down by shift_y * side.
 * @param {Box} box
 * @param {{scale: number, shift_y: number}} crop
 * @returns {{x: number, y: number, side: number}}
 */
export function cropSquare(box, crop) {
  const side = crop.scale * Math.max(box.width, box.height);
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2 + crop.shift_y * side;
  return { x: cx - side / 2, y: cy - side / 2, side };
}

/**
 * How finely a crop square is sampled: bilinear at k * size, then k x k averaging (an area-style
 * resize), k = round(side / size) within 1..4.
 * @param {number} side  the crop square's side, frame pixels
 * @param {number} size  the model's input side
 * @returns {number}
 */
export function cropScale(side, size) {
  return Math.min(4, Math.max(1, Math.round(side / size)));
}

/**
 * The frame pixels one face's crop samples within a W x H frame: the crop square plus the pixel
 * bilinear sampling reaches, clipped to the frame. Null when the crop lies wholly outside it.
 * @param {Box} box
 * @param {{scale: number, shift_y: number}} crop
 * @param {number} W
 * @param {number} H
 * @returns {Box | null}
 */
export function cropRegion(box, crop, W, H) {
  const c = cropSquare(box, crop);
  const x0 = Math.max(0, Math.floor(c.x)), y0 = Math.max(0, Math.floor(c.y));
  const x1 = Math.min(W, Math.ceil(c.x + c.side) + 1), y1 = Math.min(H, Math.ceil(c.y + c.side) + 1);
  return x1 - x0 >= 2 && y1 - y0 >= 2 ? { x: x0, y: y0, width: x1 - x0, height: y1 - y0 } : null;
}
