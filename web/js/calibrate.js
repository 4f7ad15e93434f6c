// "Calibrate to me" (issue 23), the recording flow: the person makes each expression for a few seconds,
// the page fits a small head on the model's embedding of their face (fer-browser's fitHead, in this tab)
// and from then on reads every face through it. Nothing leaves the device. The profile bar (on/off,
// export, import, delete) is profile_bar.js; the model work is the library's (Recognizer.setProfile,
// estimateFaces features); this is the UI.
import { ADAPTATION, AdaptationError, adjustProbabilities, fitHead, makeProfile, ProfileError,
  profileProbabilities } from 'fer-browser';
import { setButtons } from './camera.js';
import { clearMessage, el, showMessage } from './dom.js';
import { state } from './state.js';
import { canCalibrate, describe, keep, showBar, useProfile } from './profile_bar.js';

const MAX_NAME = 40; // web/schemas/profile.schema.json: a class name's longest
// What to ask for, in words a first-time user understands; other class names get a generic prompt.
const PROMPTS = {
  neutral: 'Make a neutral face: relaxed, no expression.',
  happiness: 'Make a happy face: smile.',
  surprise: 'Look surprised: eyebrows up, mouth open.',
  sadness: 'Make a sad face.',
  anger: 'Make an angry face: frown.',
  disgust: 'Look disgusted: wrinkle your nose.',
  fear: 'Look afraid.',
  contempt: 'Show contempt: one corner of the mouth up.',
};
const prompt = (name, custom) => (custom ? `Make your “${name}” face.` : PROMPTS[name] ?? `Make a “${name}” face.`);

/** One calibration: the choices of the setup step, then the recordings. */
let session = null;


/** Open the panel at its setup step: the model's classes (each can be hidden) and custom ones to add. */
function open() {
  if (!canCalibrate() || state.calibrating) return;
  clearMessage();
  const r = state.recognizer;
  session = { model: [...r.metadata.classes], custom: [], hidden: new Set((state.profile?.hidden ?? []).filter((c) => r.metadata.classes.includes(c))),
    samples: [], abort: new AbortController() };
  state.calibrating = true;
  setButtons();
  showBar();
  el.calSetup.hidden = false;
  el.calStep.hidden = el.calResult.hidden = true;
  el.calCancel.parentElement.hidden = false;
  el.calCustom.value = '';
  el.calCustomError.textContent = '';
  el.calStatus.textContent = '';
  listClasses();
  el.calPanel.hidden = false;
  el.calTitle.focus(); // the panel's heading: a screen reader starts reading there
}

function listClasses() {
  const all = [...session.model, ...session.custom];
  el.calClasses.replaceChildren(...all.map((name) => {
    const li = document.createElement('li');
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = session.hidden.has(name);
    box.addEventListener('change', () => { if (box.checked) session.hidden.add(name); else session.hidden.delete(name); });
    label.append(box, ` never show “${name}”`);
    li.append(label);
    if (session.custom.includes(name)) {
      const remove = document.createElement('button');
      remove.type = 'button';
      remove.textContent = `Remove “${name}”`;
      remove.addEventListener('click', () => {
        session.custom = session.custom.filter((c) => c !== name);
        session.hidden.delete(name);
        listClasses();
        el.calCustom.focus();
      });
      li.append(' ', remove);
    }
    return li;
  }));
}

/** A custom expression's name, or a one-line reason it cannot be one. */
function customName(text) {
  const name = text.trim();
  if (!name) return { error: 'Type a name for the expression first.' };
  if (name.length > MAX_NAME) return { error: `A name can have at most ${MAX_NAME} characters (this one has ${name.length}).` };
  const taken = [...session.model, ...session.custom].find((c) => c.toLowerCase() === name.toLowerCase());
  if (taken) return { error: `“${taken}” is already an expression.` };
  return { name };
}

function addCustom(event) {
  event.preventDefault();
  const { name, error } = customName(el.calCustom.value);
  el.calCustomError.textContent = error ?? `Added “${name}”: you will be asked to make it after the others.`;
  el.calCustom.setAttribute('aria-invalid', String(!!error));
  if (error) return;
  session.custom.push(name);
  el.calCustom.value = '';
  listClasses();
}

class Cancelled extends Error {}

/** Resolves with the id of the button the person chose; rejects when the calibration is cancelled. */
function choose(buttons) {
  const { signal } = session.abort;
  return new Promise((resolve, reject) => {
    const done = (id) => { buttons.forEach((b) => b.removeEventListener('click', b.onChoose)); signal.removeEventListener('abort', stop); resolve(id); };
    const stop = () => { buttons.forEach((b) => b.removeEventListener('click', b.onChoose)); reject(new Cancelled()); };
    buttons.forEach((b) => { b.onChoose = () => done(b.id); b.addEventListener('click', b.onChoose); });
    if (signal.aborted) stop(); else signal.addEventListener('abort', stop, { once: true });
  });
}

function sleep(ms) {
  const { signal } = session.abort;
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => { signal.removeEventListener('abort', stop); resolve(); }, ms);
    const stop = () => { clearTimeout(t); reject(new Cancelled()); };
    if (signal.aborted) stop(); else signal.addEventListener('abort', stop, { once: true });
  });
}

/** The largest tracked face of each camera frame, until `frames` are kept; no face: say so and wait. */
function record(label, frames) {
  const { signal } = session.abort;
  el.calProgress.max = frames;
  el.calProgress.value = 0;
  let kept = 0;
  return new Promise((resolve, reject) => {
    const finish = (err) => { state.recorder = null; clearInterval(watch); signal.removeEventListener('abort', stop); if (err) reject(err); else resolve(); };
    const stop = () => finish(new Cancelled());
    // the camera stopped or paused: a recording needs live frames
    const watch = setInterval(() => {
      if (state.mode !== 'camera') finish(new Cancelled('The camera stopped, so the calibration was cancelled.'));
      else if (!state.running) el.calStatus.textContent = 'The camera is paused: resume it to go on recording.';
    }, 250);
    state.recorder = (faces) => {
      const withFeatures = faces.filter((f) => f.embedding);
      if (!withFeatures.length) {
        el.calStatus.textContent = 'No face in view: look at the camera.';
        return;
      }
      const face = withFeatures.reduce((a, b) => (b.box.width * b.box.height > a.box.width * a.box.height ? b : a));
      session.samples.push({ label, embedding: face.embedding, logProbs: face.logProbs });
      kept += 1;
      el.calProgress.value = kept;
      el.calStatus.textContent = `Recording: ${kept} of ${frames} frames.`;
      if (kept >= frames) finish();
    };
    if (signal.aborted) stop(); else signal.addEventListener('abort', stop, { once: true });
  });
}

/** Ask for each expression in turn: Record (countdown, then frames) or Skip. */
async function run() {
  const all = [...session.model, ...session.custom];
  if (all.length - session.hidden.size < 2) {
    el.calCustomError.textContent = 'At least two expressions must stay shown.';
    return;
  }
  el.calSetup.hidden = true;
  el.calStep.hidden = false;
  const asked = all.filter((name) => !session.hidden.has(name)); // a hidden class is never shown: nothing to record
  const { frames, countdown_ms: countdownMs } = ADAPTATION.recording;
  try {
    for (const [i, name] of asked.entries()) {
      const custom = session.custom.includes(name);
      el.calPrompt.textContent = prompt(name, custom);
      el.calPrompt.dataset.name = name;
      el.calStepCount.textContent = `Expression ${i + 1} of ${asked.length}`;
      el.calStatus.textContent = 'Press Record when you are ready, or Skip.';
      el.calProgress.value = 0;
      el.calRecord.disabled = el.calSkip.disabled = false;
      el.calRecord.focus();
      if (await choose([el.calRecord, el.calSkip]) === 'cal-skip') continue;
      el.calRecord.disabled = el.calSkip.disabled = true;
      el.calCancel.focus();
      const wait = state.countdownMs ?? countdownMs;
      for (let left = Math.ceil(wait / 1000); left > 0; left -= 1) {
        el.calStatus.textContent = `Hold the expression: recording starts in ${left}…`;
        await sleep(Math.min(1000, wait - (Math.ceil(wait / 1000) - left) * 1000));
      }
      await record(all.indexOf(name), frames);
    }
  } catch (err) {
    if (!(err instanceof Cancelled)) throw err;
    close(err.message || 'Calibration cancelled: nothing was changed.');
    return;
  }
  fit();
}

/** Fit on the recordings, keep and use the profile, show how the recorded frames are read now. */
function fit() {
  const r = state.recognizer;
  const all = [...session.model, ...session.custom];
  const samples = session.samples;
  // custom expressions without recordings are left out: the head would know nothing about them
  const custom = session.custom.filter((name) => samples.some((s) => s.label === all.indexOf(name)));
  const classes = [...session.model, ...custom];
  const labels = samples.map((s) => classes.indexOf(all[s.label]));
  const hidden = [...session.hidden].filter((name) => classes.includes(name));
  if (!samples.length) {
    close('Nothing was recorded, so no profile was made.');
    return;
  }
  let profile;
  try {
    const head = fitHead(samples.map((s) => s.embedding), samples.map((s) => s.logProbs), labels, classes.length,
      r.metadata.prior?.probabilities ?? null);
    profile = makeProfile(head, r.metadata, custom, hidden);
  } catch (err) {
    if (!(err instanceof AdaptationError || err instanceof ProfileError)) throw err;
    close(`No profile was made: ${err.message}`);
    return;
  }
  useProfile(profile, true);
  keep(profile);
  showResult(profile, samples, labels);
}

/** Per recorded expression: how many of its frames the model alone, and the profile, label as it. */
function showResult(profile, samples, labels) {
  const m = state.recognizer.model;
  const hidden = profile.hidden.map((c) => profile.classes.indexOf(c));
  const top = (p) => p.reduce((best, v, k) => (v > p[best] ? k : best), 0);
  const rows = new Map();
  samples.forEach((s, i) => {
    const k = labels[i];
    const row = rows.get(k) ?? { n: 0, before: 0, after: 0 };
    // before: what the page showed without a profile (calibration and Balanced included)
    row.before += top(adjustProbabilities(Array.from(s.logProbs), m.temperature, m.prior, m.priorStrength)) === k;
    const p = profileProbabilities(profile, s.embedding, s.logProbs);
    hidden.forEach((h) => { p[h] = -1; });
    row.after += top(p) === k;
    row.n += 1;
    rows.set(k, row);
  });
  const cell = (tag, text) => { const c = document.createElement(tag); c.textContent = text; return c; };
  const tr = (...cells) => { const row = document.createElement('tr'); row.append(...cells); return row; };
  el.calTable.replaceChildren(
    tr(cell('th', 'Expression'), cell('th', 'Model alone'), cell('th', 'With your profile')),
    ...[...rows].map(([k, row]) => tr(cell('th', profile.classes[k]), cell('td', `${row.before} of ${row.n}`), cell('td', `${row.after} of ${row.n}`))),
  );
  el.calTable.dataset.rows = JSON.stringify([...rows].map(([k, row]) => ({ name: profile.classes[k], ...row }))); // tests
  el.calStep.hidden = true;
  el.calResult.hidden = false;
  el.calCancel.parentElement.hidden = true; // nothing left to cancel: the profile is made
  el.calResultNote.textContent = `Your profile is made and on (${describe(profile)}). It is kept in this browser only.`;
  el.calDone.focus();
}

/** Close the panel; `note` (if any) is said in the profile bar's status. */
function close(note = '') {
  session?.abort.abort();
  state.recorder = null;
  session = null;
  state.calibrating = false;
  el.calPanel.hidden = true;
  setButtons();
  showBar();
  if (note) el.profileStatus.textContent = `${note} ${el.profileStatus.textContent}`;
  el.calibrate.focus();
}

export function wireCalibration() {
  el.calibrate.addEventListener('click', open);
  el.calCustomForm.addEventListener('submit', addCustom);
  el.calBegin.addEventListener('click', () => run().catch((err) => {
    close();
    showMessage(`Calibration failed: ${err.message.split('\n')[0]}`, 'error');
  }));
  el.calCancel.addEventListener('click', () => close('Calibration cancelled: nothing was changed.'));
  el.calDone.addEventListener('click', () => close());
  el.calPanel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !el.calResult.hidden) close();
    else if (e.key === 'Escape') close('Calibration cancelled: nothing was changed.');
  });
}
