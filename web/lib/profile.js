// A personal profile (web/schemas/profile.schema.json, fer-profile/1): a fitted head and what it is for,
// the twin of fer_browser/profile.py (same checks, same one-line messages). The head only means
// something on top of the model it was fitted on, so a profile names that model's weights digest
// (metadata.json weights_sha256) and classes, and is refused for any other model.
import { ADAPTATION, headProbabilities } from './adaptation.js';
import { validate, show, SchemaError } from './schema.js';

export const PROFILE_SCHEMA = 'fer-profile/1';
// Far above a real profile (192 x 8 weights: ~40 KB) yet enough for the schema's largest head
// (4096 x 64 numbers at ~24 characters each); checked before parsing.
export const MAX_BYTES = 8 * 1024 * 1024;

/** A profile that cannot be made, read or used here; one line. */
export class ProfileError extends Error {}

/**
 * `doc` if it is a fer-profile/1 profile for the model `meta` (metadata.json) describes, else ProfileError.
 * @param {any} doc
 * @param {{classes: string[], weights_sha256?: string, model?: {embedding?: {size: number}}}} meta
 * @param {string} where
 */
export function checkProfile(doc, meta, where) {
  const version = doc !== null && typeof doc === 'object' && !Array.isArray(doc) ? (doc.schema ?? null) : null;
  if (version !== PROFILE_SCHEMA) { // before the schema: a newer file deserves a clearer word than 'must be'
    throw new ProfileError(`${where}: not a profile this version can read (schema ${show(version)}; it reads ${PROFILE_SCHEMA})`);
  }
  try {
    validate(doc, 'profile', where);
  } catch (err) {
    if (err instanceof SchemaError) throw new ProfileError(err.message);
    throw err;
  }
  const ours = meta.weights_sha256, theirs = doc.model.weights_sha256;
  if (ours !== theirs) {
    const mine = typeof ours === 'string' ? ours.slice(0, 12) : 'no digest';
    throw new ProfileError(`${where}: made for model ${theirs.slice(0, 12)}, this model is ${mine}; record the expressions again for this model`);
  }
  if (doc.model.classes.length !== meta.classes.length || doc.model.classes.some((c, i) => c !== meta.classes[i])) {
    throw new ProfileError(`${where}: model.classes differ from the model's classes`);
  }
  const size = meta.model?.embedding?.size;
  if (size !== undefined && size !== doc.head.center.length) {
    throw new ProfileError(`${where}: the head takes ${doc.head.center.length} embedding values, the model gives ${size}`);
  }
  return doc;
}

/**
 * The profile of a head from fitHead(..., settings) for the model `meta` describes.
 * @param {{weights: number[][], bias: number[], center: number[], scale: number, counts: number[]}} head
 * @param {string[]} custom  the user's class names, after the model's
 * @param {string[]} hidden  class names never to be shown
 */
export function makeProfile(head, meta, custom = [], hidden = [], settings = ADAPTATION, created = null) {
  if (!meta.weights_sha256) throw new ProfileError("the model's metadata.json has no weights_sha256: a profile cannot be tied to it");
  const { steps, weight_decay, bias_decay } = settings.fit;
  const profile = {
    schema: PROFILE_SCHEMA,
    model: { weights_sha256: meta.weights_sha256, classes: [...meta.classes] },
    classes: [...meta.classes, ...custom],
    hidden: [...hidden],
    counts: [...head.counts],
    head: { weights: head.weights, bias: head.bias, center: head.center, scale: head.scale },
    settings: { steps, weight_decay, bias_decay },
    created: created ?? new Date().toISOString(),
  };
  return checkProfile(profile, meta, 'the new profile');
}

/** The profile in `text` (a file's contents), checked for the model `meta` describes. */
export function parseProfile(text, meta, where = 'the profile') {
  // text.length counts UTF-16 units, never more than the UTF-8 bytes Python's cap counts
  if (text.length > MAX_BYTES) throw new ProfileError(`${where}: larger than a profile can be (${MAX_BYTES / 2 ** 20} MiB)`);
  let doc;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ProfileError(`${where}: not JSON (${String(err.message).split('\n')[0].slice(0, 80)})`);
  }
  return checkProfile(doc, meta, where);
}

/**
 * Probabilities over profile.classes for one face; hidden classes get 0 and the rest share 1.
 * @param {ArrayLike<number>} embedding  the model's embedding (d values)
 * @param {ArrayLike<number>} logProbs   the model's log-probabilities (one per model class)
 */
export function profileProbabilities(profile, embedding, logProbs) {
  const d = profile.head.center.length, kModel = profile.model.classes.length;
  if (embedding.length !== d || logProbs.length !== kModel) {
    throw new ProfileError(`the profile takes ${d} embedding values and ${kModel} log-probabilities, got ${embedding.length} and ${logProbs.length}`);
  }
  const hidden = profile.hidden.map((name) => profile.classes.indexOf(name));
  return headProbabilities(profile.head, embedding, logProbs, hidden);
}
