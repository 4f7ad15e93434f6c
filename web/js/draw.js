// Drawing the results: a box and label per face on the stage, a card per face beside it.
// Colours follow the top class, as in the timeline's legend.
import { ctx, el } from './dom.js';
import { placeLabels } from './label_layout.js';
import { state } from './state.js';

export const COLORS = ['#e5484d', '#8e4ec6', '#f76b15', '#30a46c', '#0090ff', '#ffc53d', '#8d8d8d', '#d6409f'];
export const classColor = (k) => COLORS[k % COLORS.length];

const topIndex = (face, classes) => classes.indexOf(face.label);
const pct = (face) => Math.round(100 * face.confidence);

/** Boxes and labels over the frame or photo already on the canvas; the labels' rectangles (canvas
 * pixels) are kept in state.labels. */
export function drawOverlays(faces, classes) {
  // same size on screen whatever the photo's resolution (canvas pixels per CSS pixel)
  const scale = el.canvas.width / (el.canvas.clientWidth || el.canvas.width);
  const lw = 2.5 * scale, fontPx = Math.round(15 * scale), pad = Math.round(4 * scale);
  ctx.font = `600 ${fontPx}px system-ui, sans-serif`;
  ctx.textBaseline = 'middle';
  const canvas = { width: el.canvas.width, height: el.canvas.height };
  const texts = faces.map((f, i) => {
    const full = `${i + 1}: ${f.label} ${pct(f)}%`;
    // a label wider than the picture (a narrow photo on a phone) drops its percentage; the card has it
    return ctx.measureText(full).width + 2 * pad <= canvas.width ? full : `${i + 1}: ${f.label}`;
  });
  const sizes = texts.map((t) => ({ width: Math.ceil(ctx.measureText(t).width + 2 * pad), height: fontPx + 2 * pad }));
  const rects = placeLabels(faces.map((f) => f.box), sizes, canvas);
  faces.forEach((f) => {
    const { x, y, width, height } = f.box;
    ctx.lineWidth = lw;
    ctx.strokeStyle = classColor(topIndex(f, classes));
    ctx.strokeRect(x, y, width, height);
  });
  faces.forEach((f, i) => { // labels after every box, so no box is drawn across a label
    const r = rects[i];
    ctx.fillStyle = classColor(topIndex(f, classes));
    ctx.fillRect(r.x, r.y, r.width, r.height);
    ctx.fillStyle = '#fff';
    ctx.fillText(texts[i], r.x + pad, r.y + r.height / 2);
  });
  state.labels = rects.map((r, i) => ({ ...r, text: texts[i] }));
}

function faceCard(classes) {
  const li = document.createElement('li');
  li.className = 'face';
  li.append(document.createElement('h2'));
  for (const name of classes) {
    const row = document.createElement('div');
    row.className = 'bar';
    row.innerHTML = '<span class="name"></span><span class="track"><span class="fill"></span></span><span class="pct"></span>';
    row.querySelector('.name').textContent = name;
    li.append(row);
  }
  return li;
}

/** One card per face: its label and a bar per class. */
export function renderFaces(faces, classes) {
  const key = classes.join('\n'); // a profile switched on or off changes the bars a card needs
  if (el.faces.children.length !== faces.length || el.faces.dataset.classes !== key) {
    el.faces.replaceChildren(...faces.map(() => faceCard(classes)));
    el.faces.dataset.classes = key;
  }
  faces.forEach((f, i) => {
    const li = el.faces.children[i];
    // a card that would show the same (a label carried between readings on a slow device) is left as
    // it is: rewriting it costs a style and layout pass on every frame
    const shown = `${f.label} ${pct(f)} ${classes.map((c) => (1000 * f.probabilities[c]).toFixed(0))}`;
    if (li.shown === shown) return;
    li.shown = shown;
    li.style.setProperty('--c', classColor(topIndex(f, classes)));
    li.dataset.label = f.label;
    li.querySelector('h2').textContent = `Face ${i + 1}: ${f.label} (${pct(f)}%)`;
    li.querySelectorAll('.bar').forEach((row, k) => {
      const p = 100 * f.probabilities[classes[k]];
      row.querySelector('.fill').style.width = `${p.toFixed(1)}%`;
      row.querySelector('.pct').textContent = `${p.toFixed(0)}%`;
    });
  });
}

/** Empty stage and no cards. */
export function clearStage() {
  ctx.clearRect(0, 0, el.canvas.width, el.canvas.height);
  state.labels = [];
  el.faces.replaceChildren();
  el.hint.hidden = false;
}
