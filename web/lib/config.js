// Reading the two JSON files a recognizer is built from: the detector/tracking/smoothing/cadence
// settings (face_pipeline.json, schema fer-face-pipeline/1) and the model's metadata.json (classes,
// input, preprocessing, crop, optional calibration). Each is checked once here, with a one-line
// error naming the file, so the rest of the library can trust the fields it reads.

export const PIPELINE_SCHEMA = 'fer-face-pipeline/1';
export const METADATA_SCHEMA = 'fer-model-metadata/1';

/**
 * An absolute URL for `url`, relative to the page (or worker) when it is relative.
 * @param {string | URL} url
 * @returns {string}
 */
export function absoluteUrl(url) {
  return new URL(String(url), globalThis.location?.href).href;
}

/** A folder URL that ends with '/', so new URL('file', folder) stays inside it. @param {string | URL} url */
export function folderUrl(url) {
  const u = absoluteUrl(url);
  return u.endsWith('/') ? u : `${u}/`;
}

/**
 * Fetch and parse a JSON file; rejects with one line naming `what` and the URL.
 * @param {string} url
 * @param {string} what
 */
export async function fetchJson(url, what) {
  let res;
  try {
    res = await fetch(url);
  } catch (err) {
    throw new Error(`${what} could not be fetched from ${url} (${err.message})`);
  }
  if (!res.ok) throw new Error(`${what} not found at ${url} (HTTP ${res.status})`);
  try {
    return await res.json();
  } catch {
    throw new Error(`${what} at ${url} is not valid JSON`);
  }
}

const isObject = (x) => x !== null && typeof x === 'object' && !Array.isArray(x);
const isNumber = (x) => typeof x === 'number' && Number.isFinite(x);

function need(ok, where, what) {
  if (!ok) throw new Error(`${where}: ${what}`);
}

/**
 * Check a face_pipeline.json object; returns it (with `overrides` merged section by section).
 * @param {any} cfg
 * @param {string} [where]
 * @param {Record<string, object>} [overrides]
 * @returns {import('./index.js').PipelineConfig}
 */
export function checkPipelineConfig(cfg, where = 'face_pipeline.json', overrides = {}) {
  need(isObject(cfg), where, 'not a JSON object');
  need(cfg.schema === PIPELINE_SCHEMA, where, `schema ${JSON.stringify(cfg.schema)} is not supported (expected ${PIPELINE_SCHEMA})`);
  const out = { ...cfg };
  for (const [section, values] of Object.entries(overrides)) out[section] = { ...cfg[section], ...values };
  for (const section of ['detector', 'tracking', 'smoothing', 'cadence']) need(isObject(out[section]), where, `no "${section}" section`);
  const d = out.detector;
  for (const k of ['inputSize', 'scoreThreshold', 'iouThreshold', 'maxFaces', 'minSize']) need(isNumber(d[k]), where, `detector.${k} is not a number`);
  need(Array.isArray(d.featureMaps) && d.featureMaps.length > 0, where, 'detector.featureMaps is empty');
  need(Array.isArray(d.inputRange) && d.inputRange.length === 2 && d.inputRange.every(isNumber), where, 'detector.inputRange is not [low, high]');
  need(d.merge === 'weighted', where, `detector.merge ${JSON.stringify(d.merge)} is not supported (only "weighted")`);
  for (const k of ['matchIou', 'matchDistance', 'maxMissed', 'maxMissedMs', 'velocitySmoothing', 'redetectDrift']) {
    need(isNumber(out.tracking[k]), where, `tracking.${k} is not a number`);
  }
  for (const k of ['targetFps', 'minEvery', 'maxEvery', 'timingSmoothing']) need(isNumber(out.cadence[k]), where, `cadence.${k} is not a number`);
  need(typeof out.cadence.maxIntervalMs === 'number', where, 'cadence.maxIntervalMs is not a number');
  need(out.smoothing.method === 'ema', where, `smoothing.method ${JSON.stringify(out.smoothing.method)} is not supported (only "ema")`);
  need(isNumber(out.smoothing.alpha) && out.smoothing.alpha > 0 && out.smoothing.alpha <= 1, where, 'smoothing.alpha must be in (0, 1]');
  return out;
}

/**
 * Check a model's metadata.json object (the fields the browser relies on); returns it.
 * @param {any} meta
 * @param {string} [where]
 * @returns {import('./index.js').ModelMetadata}
 */
export function checkMetadata(meta, where = 'metadata.json') {
  need(isObject(meta), where, 'not a JSON object');
  if (meta.schema !== undefined) {
    need(meta.schema === METADATA_SCHEMA, where, `schema ${JSON.stringify(meta.schema)} is not supported (expected ${METADATA_SCHEMA})`);
  }
  for (const key of ['classes', 'input', 'preprocessing', 'crop']) need(key in meta, where, `no "${key}"`);
  need(Array.isArray(meta.classes) && meta.classes.length > 1 && meta.classes.every((c) => typeof c === 'string'), where, 'classes is not a list of names');
  need(meta.input.channels === 1, where, `${meta.input.channels}-channel input is not supported`);
  need(['NCHW', 'NHWC'].includes(meta.input.layout), where, `input layout ${JSON.stringify(meta.input.layout)} is not supported`);
  const t = meta.calibration?.temperature;
  need(t === undefined || (isNumber(t) && t > 0), where, `calibration.temperature ${JSON.stringify(t)} is not a positive number`);
  if (meta.prior !== undefined) checkPrior(meta.prior, meta.classes.length, where);
  return meta;
}

/** metadata.prior, as training/metadata.py's validate_prior checks it (one line naming what is wrong). */
function checkPrior(prior, n, where) {
  need(isObject(prior) && prior.version === 1, where, `prior version ${JSON.stringify(prior?.version)} is not supported (expected 1)`);
  const p = prior.probabilities;
  need(Array.isArray(p) && p.length === n, where, `prior.probabilities must be a list of ${n} numbers, one per class`);
  need(p.every((v) => isNumber(v) && v > 0 && v <= 1), where, 'prior.probabilities must each be a finite number in (0, 1]');
  need(Math.abs(p.reduce((a, b) => a + b, 0) - 1) <= 1e-6, where, 'prior.probabilities must sum to 1 (within 1e-6)');
  need(isNumber(prior.strength) && prior.strength >= 0 && prior.strength <= 2, where, `prior.strength ${JSON.stringify(prior.strength)} is not a number in [0, 2]`);
}
