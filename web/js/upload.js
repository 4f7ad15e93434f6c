// Photo upload (file picker or drop): checked against web/input_policy.json before it is decoded,
// drawn on the stage, analysed once.
import { stopCamera, setButtons } from './camera.js';
import { clearMessage, ctx, el, showMessage } from './dom.js';
import { clearStage, drawOverlays, renderFaces } from './draw.js';
import { state } from './state.js';
import { recordTimings, resetStats, showStats } from './stats.js';

const MAX_PHOTO_SIDE = 1600; // larger photos are scaled down before detection

// fetched on the first upload, not with the page
const inputPolicy = () => import('./input_policy.js');

async function decodePhoto(file, { checkUpload, InputRejected }) {
  await checkUpload(file); // size, format by its first bytes, header dimensions
  try {
    return await createImageBitmap(file, { imageOrientation: 'from-image' }); // honours EXIF orientation
  } catch {
    throw new InputRejected('corrupt', `"${file.name}" could not be read as an image. It is truncated or damaged.`);
  }
}

/** Take the previous photo off the screen, so a refused upload never leaves its results showing. */
function clearPhoto() {
  if (state.mode !== 'photo') return;
  state.mode = 'idle';
  state.results = [];
  clearStage();
  showStats();
}

export async function showPhoto(file) {
  if (!state.ready) return;
  clearMessage();
  state.upload = { name: file.name, accepted: null, reason: null }; // read by tests/test_input_policy.py
  const policy = await inputPolicy();
  let bitmap;
  try {
    bitmap = await decodePhoto(file, policy);
  } catch (err) {
    const refused = err instanceof policy.InputRejected; // otherwise the policy itself could not be loaded
    state.upload = { name: file.name, accepted: false, reason: refused ? err.reason : 'error' };
    clearPhoto();
    showMessage(refused ? err.message : `Could not check "${file.name}": ${err.message}`, 'error');
    return;
  }
  state.upload = { name: file.name, accepted: true, reason: null };
  stopCamera();
  await state.live?.idle();
  const s = Math.min(1, MAX_PHOTO_SIDE / Math.max(bitmap.width, bitmap.height));
  el.canvas.width = Math.round(bitmap.width * s);
  el.canvas.height = Math.round(bitmap.height * s);
  ctx.imageSmoothingQuality = 'high';
  ctx.drawImage(bitmap, 0, 0, el.canvas.width, el.canvas.height);
  bitmap.close();
  state.photo = ctx.getImageData(0, 0, el.canvas.width, el.canvas.height); // kept to re-analyse (Balanced)
  el.hint.hidden = true;
  resetStats();
  const faces = await analyse();
  setButtons();
  if (!faces.length) showMessage(`No face found in "${file.name}".`);
}

/** Detect and classify the photo on the canvas, then draw and list the faces. */
async function analyse() {
  const r = state.recognizer;
  const faces = await r.estimateFaces(el.canvas);
  recordTimings(r.lastTimings);
  state.results = faces; // before mode: tests wait for mode 'photo', then read the results
  state.mode = 'photo';
  drawOverlays(faces, r.classes);
  renderFaces(faces, r.classes);
  showStats();
  return faces;
}

/** The photo on screen again, with the recognizer's present settings (after the Balanced slider moved). */
export async function reanalysePhoto() {
  if (state.mode !== 'photo' || !state.photo) return;
  await state.live?.idle();
  ctx.putImageData(state.photo, 0, 0); // the photo without the previous boxes
  await analyse();
}

/** The file picker, and photos dropped on the stage (dropping elsewhere must not leave the page). */
export function wireUploads() {
  const analyse = (file) => showPhoto(file).catch((err) => showMessage(`Could not analyse "${file.name}": ${err.message}`, 'error'));
  el.file.addEventListener('change', () => {
    if (el.file.files[0]) analyse(el.file.files[0]);
    el.file.value = ''; // choosing the same file again still fires
  });
  for (const type of ['dragover', 'drop']) document.addEventListener(type, (e) => e.preventDefault());
  el.stage.addEventListener('dragover', () => el.stage.classList.add('dragover'));
  el.stage.addEventListener('dragleave', () => el.stage.classList.remove('dragover'));
  el.stage.addEventListener('drop', (e) => {
    el.stage.classList.remove('dragover');
    const file = e.dataTransfer.files[0];
    if (file) analyse(file);
  });
}
