// The personal profile kept in this browser: localStorage, one per model (its weights digest, so another
// model never picks up a head fitted on a different embedding). Nothing here is sent anywhere.
const KEY = 'fer-browser.profile.';
const OFF = 'fer-browser.profile-off.';

/** The stored profile's text and whether it is on, or null. @param {{weights_sha256: string}} meta */
export function loadStored(meta) {
  const text = localStorage.getItem(KEY + meta.weights_sha256);
  return text === null ? null : { text, on: localStorage.getItem(OFF + meta.weights_sha256) === null };
}

/** Keep `profile` for this model (replacing any), on or off. Throws when storage is full or blocked. */
export function store(meta, profile, on = true) {
  localStorage.setItem(KEY + meta.weights_sha256, JSON.stringify(profile));
  storeOn(meta, on);
}

export function storeOn(meta, on) {
  if (on) localStorage.removeItem(OFF + meta.weights_sha256);
  else localStorage.setItem(OFF + meta.weights_sha256, '1');
}

export function removeStored(meta) {
  localStorage.removeItem(KEY + meta.weights_sha256);
  localStorage.removeItem(OFF + meta.weights_sha256);
}
