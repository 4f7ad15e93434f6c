// Drawing the results: a box and label per face on the stage, a card per face beside it.
// Colours follow the top class, as in the timeline's legend.
import { ctx, el } from './dom.js';

export const COLORS = ['#e5484d', '#8e4ec6', '#f76b15', '#30a46c', '#0090ff', '#ffc53d', '#8d8d8d', '#d6409f'];
export const classColor = (k) => COLORS[k % COLORS.length];

const topIndex = (face, classes) => classes.indexOf(face.label);
const pct = (face) => Math.round(100 * face.score);

/** Boxes and labels over the frame or photo already on the canvas. */
export function drawOverlays(faces, classes) {
  // same size on screen whatever the photo's resolution (canvas pixels per CSS pixel)
  const scale = el.canvas.width / (el.canvas.clientWidth || el.canvas.width);
  const lw = 2.5 * scale, fontPx = Math.round(15 * scale);
  ctx.font = `600 ${fontPx}px system-ui, sans-serif`;
  ctx.textBaseline = 'bottom';
  faces.forEach((f, i) => {
    const { x, y, width, height } = f.box;
    const color = classColor(topIndex(f, classes));
    ctx.lineWidth = lw;
    ctx.strokeStyle = color;
    ctx.strokeRect(x, y, width, height);
    const text = `${i + 1}: ${f.label} ${pct(f)}%`;
    const tw = ctx.measureText(text).width + 8;
    const ty = y - fontPx - 6 < 0 ? y + height + fontPx + 6 : y; // below the box when no room above
    ctx.fillStyle = color;
    ctx.fillRect(x - lw / 2, ty - fontPx - 6, tw, fontPx + 6);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x + 4 - lw / 2, ty - 3);
  });
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
  if (el.faces.children.length !== faces.length) el.faces.replaceChildren(...faces.map(() => faceCard(classes)));
  faces.forEach((f, i) => {
    const li = el.faces.children[i];
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
  el.faces.replaceChildren();
  el.hint.hidden = false;
}
