// The page's label placement (web/js/label_layout.js): captions above, below or inside their box,
// inside the canvas, never on top of each other (run by tests/test_label_layout.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { overlap, placeLabels } from '../../web/js/label_layout.js';

const inside = (r, c) => r.x >= 0 && r.y >= 0 && r.x + r.width <= c.width && r.y + r.height <= c.height;

function checkLayout(boxes, sizes, canvas) {
  const rects = placeLabels(boxes, sizes, canvas);
  assert.equal(rects.length, boxes.length);
  rects.forEach((r, i) => {
    assert.ok(inside(r, canvas), `label ${i} leaves the canvas: ${JSON.stringify(r)}`);
    assert.deepEqual([r.width, r.height], [sizes[i].width, sizes[i].height]);
    rects.slice(0, i).forEach((q, j) => assert.ok(!overlap(r, q), `labels ${j} and ${i} overlap`));
  });
  return rects;
}

test('room above: the label sits on the box, left-aligned', () => {
  const [r] = checkLayout([{ x: 100, y: 100, width: 80, height: 80 }], [{ width: 60, height: 20 }], { width: 640, height: 480 });
  assert.deepEqual(r, { x: 100, y: 80, width: 60, height: 20 });
});

test('a box at the top edge gets its label below; at the right edge it is pulled in', () => {
  const canvas = { width: 640, height: 480 };
  const [below] = checkLayout([{ x: 10, y: 5, width: 80, height: 80 }], [{ width: 60, height: 20 }], canvas);
  assert.equal(below.y, 85);
  const [right] = checkLayout([{ x: 600, y: 100, width: 40, height: 40 }], [{ width: 150, height: 20 }], canvas);
  assert.equal(right.x + right.width, 640);
});

test('a box filling the canvas keeps its label inside the box', () => {
  const [r] = checkLayout([{ x: 0, y: 0, width: 200, height: 200 }], [{ width: 90, height: 20 }], { width: 200, height: 200 });
  assert.deepEqual([r.x, r.y], [0, 0]);
});

test('six faces in a 3 x 2 grid, labels wider than the faces: none clipped, none overlapping', () => {
  const boxes = [], canvas = { width: 600, height: 460 };
  for (const y of [40, 270]) for (const x of [30, 230, 430]) boxes.push({ x, y, width: 140, height: 150 });
  checkLayout(boxes, boxes.map(() => ({ width: 190, height: 28 })), canvas);
});

test('many random scenes: inside the canvas and free of each other', () => {
  let seed = 1;
  const rand = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  for (let n = 0; n < 500; n += 1) {
    const canvas = { width: 320 + Math.floor(rand() * 700), height: 240 + Math.floor(rand() * 500) };
    const k = 1 + Math.floor(rand() * 8);
    const boxes = Array.from({ length: k }, () => {
      const w = 20 + rand() * canvas.width / 3;
      return { x: rand() * (canvas.width - w), y: rand() * (canvas.height - w), width: w, height: w };
    });
    const sizes = boxes.map(() => ({ width: 40 + Math.floor(rand() * canvas.width / 3), height: 14 + Math.floor(rand() * 16) }));
    checkLayout(boxes, sizes, canvas);
  }
});
