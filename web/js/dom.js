// The page's elements and its message line.
const $ = (id) => document.getElementById(id);

export const el = {
  start: $('start'), pause: $('pause'), stop: $('stop'), file: $('file'), smooth: $('smooth'),
  smoothAlpha: $('smooth-alpha'), backend: $('backend'), message: $('message'), stage: $('stage'),
  video: $('video'), canvas: $('canvas'), hint: $('drop-hint'), status: $('status'),
  backendName: $('backend-name'), fps: $('fps'), modelMs: $('model-ms'), detMs: $('det-ms'),
  faces: $('faces'), parity: $('parity'), parityResult: $('parity-result'),
  timeline: $('timeline'), timelineLegend: $('timeline-legend'), timelineNote: $('timeline-note'),
  downloadCsv: $('download-csv'), balance: $('balance'), balanceValue: $('balance-value'),
  balanceNote: $('balance-note'), modelNote: $('model-note'),
  // "Calibrate to me" (calibrate.js)
  calibrate: $('calibrate'), profileBar: $('profile-bar'), profileStatus: $('profile-status'),
  profileToggle: $('profile-toggle'), profileExport: $('profile-export'), profileImport: $('profile-import'),
  profileFile: $('profile-file'), profileDelete: $('profile-delete'), calPanel: $('calibrate-panel'),
  calTitle: $('calibrate-title'), calSetup: $('cal-setup'), calClasses: $('cal-classes'),
  calCustomForm: $('cal-custom-form'), calCustom: $('cal-custom'), calCustomError: $('cal-custom-error'),
  calBegin: $('cal-begin'), calCancel: $('cal-cancel'), calStep: $('cal-step'), calStepCount: $('cal-step-count'),
  calPrompt: $('cal-prompt'), calProgress: $('cal-progress'), calStatus: $('cal-status'), calRecord: $('cal-record'),
  calSkip: $('cal-skip'), calResult: $('cal-result'), calResultNote: $('cal-result-note'), calTable: $('cal-table'),
  calDone: $('cal-done'),
};

// the frame or photo is drawn here and read back by the recognizer
export const ctx = el.canvas.getContext('2d', { willReadFrequently: true });

export function showMessage(text, kind = 'info') {
  el.message.textContent = text;
  el.message.className = `message ${kind}`;
  el.message.hidden = false;
}

export function clearMessage() {
  el.message.hidden = true;
  el.message.textContent = '';
}
