// Reading the two JSON files a recognizer is built from: the detector/tracking/smoothing/cadence
// settings (face_pipeline.json, schema fer-face-pipeline/1) and the model's metadata.json (classes,
// input, preprocessing, crop, optional calibration). Each is checked once here, with a one-line
// error naming the file and the field, so the rest of the library can trust the fields it reads.
// Both delegate to web/lib/schema.js (one JSON Schema per contract, in web/schemas/).
import { validate } from './schema.js';

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

/**
 * Check a face_pipeline.json object against web/schemas/face-pipeline.schema.json (after merging
 * `overrides` section by section, so an override is held to the same bounds); returns the merged copy.
 * @param {any} cfg
 * @param {string} [where]
 * @param {Record<string, object>} [overrides]
 * @returns {import('./index.js').PipelineConfig}
 */
export function checkPipelineConfig(cfg, where = 'face_pipeline.json', overrides = {}) {
  if (!isObject(cfg)) return validate(cfg, 'face-pipeline', where); // throws its one line
  const out = { ...cfg };
  for (const [section, values] of Object.entries(overrides)) out[section] = { ...cfg[section], ...values };
  return validate(out, 'face-pipeline', where);
}

/**
 * Check a model's metadata.json object against web/schemas/model-metadata.schema.json; returns it.
 * @param {any} meta
 * @param {string} [where]
 * @returns {import('./index.js').ModelMetadata}
 */
export function checkMetadata(meta, where = 'metadata.json') {
  validate(meta, 'model-metadata', where);
  // the schema allows 3 channels; this library's crop makes grayscale only
  if (meta.input.channels !== 1) throw new Error(`${where}: ${meta.input.channels}-channel input is not supported`);
  return meta;
}

/**
 * The model's output must have one number per class, else labels would be misassigned.
 * @param {number[]} shape the output tensor's shape
 * @param {string[]} classes
 * @param {string} where
 */
export function checkOutputSize(shape, classes, where) {
  const size = shape[shape.length - 1];
  if (size !== classes.length) {
    throw new Error(`${where}: the model gives ${size} outputs per face but metadata.json names ${classes.length} classes`);
  }
}
