// The basic example's code: load a recognizer once, then box and label every face of each photo.
import { createRecognizer } from 'fer-browser';

const $ = (id) => document.getElementById(id);
// installed.html (the npm package's page) names no URL: the package finds its own files. basic.html,
// served by the project's server at other URLs, names them in its #options.
const recognizer = await createRecognizer(JSON.parse($('options')?.textContent ?? '{}'));
$('status').textContent = 'ready';

$('photo').addEventListener('change', async () => {
  const bitmap = await createImageBitmap($('photo').files[0]).catch(() => null);
  if (!bitmap) { $('status').textContent = 'That file is not an image.'; return; }
  const canvas = $('view'), g = canvas.getContext('2d');
  [canvas.width, canvas.height] = [bitmap.width, bitmap.height];
  g.drawImage(bitmap, 0, 0);
  const faces = await recognizer.estimateFaces(canvas);
  g.strokeStyle = 'lime';
  g.lineWidth = 3;
  $('faces').replaceChildren(...faces.map((face) => {
    g.strokeRect(face.box.x, face.box.y, face.box.width, face.box.height);
    const li = document.createElement('li');
    li.textContent = `${face.label} ${(100 * face.confidence).toFixed(0)}%`;
    return li;
  }));
  $('status').textContent = faces.length ? `${faces.length} face(s)` : 'No face found.';
});
