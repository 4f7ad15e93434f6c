// The profile bar of "Calibrate to me": which profile is in use, and turning it on/off, exporting,
// importing and deleting it. The profile itself lives in localStorage (profile_store.js); the
// recognizer applies it (Recognizer.setProfile). The recording flow is calibrate.js.
import { parseProfile, ProfileError } from 'fer-browser';
import { clearMessage, el, showMessage } from './dom.js';
import { state } from './state.js';
import { timeline } from './timeline.js';
import { reanalysePhoto } from './upload.js';
import { loadStored, removeStored, store, storeOn } from './profile_store.js';

/** The recognizer can fit a profile: its model gives the embedding and names its weights. */
export function canCalibrate() {
  const r = state.recognizer;
  return !!(r && r.model.hasEmbedding && r.metadata.weights_sha256);
}

// ---------- the profile in use ----------

/** Put `profile` (or none) on the recognizer and the page: labels, cards, timeline and bar follow. */
export function useProfile(profile, on) {
  const r = state.recognizer;
  r.setProfile(profile && on ? profile : null); // throws (one line) before anything changes
  state.profile = profile;
  state.profileOn = !!(profile && on);
  classesChanged();
  showBar();
}

/** The faces' classes may have changed: a camera session's timeline starts again with them, a photo is read again. */
function classesChanged() {
  const now = state.recognizer.classes, was = timeline.classes;
  const same = now.length === was.length && now.every((c, k) => c === was[k]);
  if (state.mode === 'camera' && !same) timeline.start(performance.now(), now);
  reanalysePhoto().catch((err) => showMessage(`Could not read the photo again: ${err.message}`, 'error'));
}

/** After the recognizer is (re)loaded: the profile stored for its model, if any. */
export function restoreProfile() {
  state.profile = null;
  state.profileOn = false;
  const r = state.recognizer;
  if (canCalibrate()) {
    let stored = null;
    try {
      stored = loadStored(r.metadata);
      if (stored) useProfile(parseProfile(stored.text, r.metadata, 'your saved profile'), stored.on);
    } catch (err) { // kept as it is: an export may still be wanted; Delete or Import replaces it
      showMessage(`${err.message.split('\n')[0]} (it was not used)`, 'error');
    }
  }
  el.calibrate.title = canCalibrate() ? 'Teach the page how your face shows each expression (needs the camera running)'
    : 'This model cannot be calibrated: it has no embedding output or no weights digest (re-convert it with python -m convert)';
  showBar();
}

export function describe(profile) {
  const recorded = profile.classes.filter((_, k) => profile.counts[k] > 0).length;
  const made = profile.created ? `, made ${profile.created.slice(0, 10)}` : '';
  return `${recorded} expression${recorded === 1 ? '' : 's'}${made}`;
}

/** The profile bar: what is in use, and the actions that apply. */
export function showBar() {
  const p = state.profile;
  el.profileStatus.textContent = !p ? 'No profile: the labels are the model’s own.'
    : state.profileOn ? `Your profile is on: ${describe(p)}.` : `Your profile is off (${describe(p)}).`;
  el.profileBar.classList.toggle('on', state.profileOn);
  el.profileToggle.hidden = el.profileExport.hidden = el.profileDelete.hidden = !p;
  el.profileToggle.textContent = state.profileOn ? 'Turn profile off' : 'Turn profile on';
  el.profileToggle.setAttribute('aria-pressed', String(state.profileOn));
  el.profileImport.disabled = !state.ready || !canCalibrate() || state.calibrating;
  el.profileDelete.disabled = el.profileToggle.disabled = state.calibrating;
  // a profile reads the model's own log-probabilities: the prior correction does not apply under it
  if (state.recognizer) el.balance.disabled = state.profileOn || state.recognizer.model.prior === null;
  el.balanceNote.classList.toggle('off', el.balance.disabled);
}

function toggle() {
  if (!state.profile || !state.ready) return; // ready: not while a backend switch replaces the recognizer
  const on = !state.profileOn;
  useProfile(state.profile, on);
  try { storeOn(state.recognizer.metadata, on); } catch { /* the choice holds for this visit */ }
}

function exportProfile() {
  if (!state.profile) return;
  // a Blob URL: the file is made here and handed to the browser's download, never uploaded
  const url = URL.createObjectURL(new Blob([`${JSON.stringify(state.profile, null, 1)}\n`], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = `fer-profile-${state.profile.model.weights_sha256.slice(0, 12)}-${new Date().toISOString().slice(0, 10)}.json`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

async function importProfile(file) {
  if (!state.ready || !canCalibrate()) return;
  clearMessage();
  const r = state.recognizer;
  let profile;
  try {
    profile = parseProfile(await file.text(), r.metadata, `“${file.name}”`);
    r.setProfile(profile); // checked once more where it is used; nothing changed if this throws
  } catch (err) {
    showMessage(err instanceof ProfileError ? err.message : `Could not import “${file.name}”: ${err.message.split('\n')[0]}`, 'error');
    return;
  }
  useProfile(profile, true);
  keep(profile);
  el.profileStatus.textContent += ' (imported)';
}

/** Into localStorage; a full or blocked storage still leaves the profile on for this visit. */
export function keep(profile) {
  try {
    store(state.recognizer.metadata, profile, true);
  } catch (err) {
    showMessage(`Your profile is on, but this browser would not keep it (${err.message}); export it to keep it.`, 'error');
  }
}

function deleteProfile() {
  if (!state.profile || !state.ready) return;
  try { removeStored(state.recognizer.metadata); } catch { /* nothing was stored */ }
  useProfile(null, false);
  el.profileStatus.textContent = 'Your profile was deleted from this browser: the labels are the model’s own.';
}

export function wireProfileBar() {
  el.profileToggle.addEventListener('click', toggle);
  el.profileExport.addEventListener('click', exportProfile);
  el.profileImport.addEventListener('click', () => el.profileFile.click());
  el.profileFile.addEventListener('change', () => {
    const file = el.profileFile.files[0];
    el.profileFile.value = ''; // the same file again still fires
    if (file) importProfile(file);
  });
  el.profileDelete.addEventListener('click', deleteProfile);
}
