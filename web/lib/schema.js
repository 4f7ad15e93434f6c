// The contracts' JSON Schemas (web/schemas/*.schema.json), checked in JS: the twin of
// fer_browser/schema.py, held to the same verdicts by tests/conformance/schema_cases.json.
// Only the draft 2020-12 keywords the schemas use are implemented; an unknown keyword is an error,
// so a schema cannot silently ask for more than is checked. Numbers must be finite. Rules across
// fields that a schema cannot say are in crossCheck. The schemas are imported as JSON modules:
// no extra fetch, works in the browser without a bundler and in Node.
import metadataSchema from '../schemas/model-metadata.schema.json' with { type: 'json' };
import pipelineSchema from '../schemas/face-pipeline.schema.json' with { type: 'json' };
import manifestSchema from '../schemas/manifest.schema.json' with { type: 'json' };
import paritySchema from '../schemas/parity-report.schema.json' with { type: 'json' };
import faceResultSchema from '../schemas/face-result.schema.json' with { type: 'json' };
import adaptationSchema from '../schemas/adaptation.schema.json' with { type: 'json' };
import profileSchema from '../schemas/profile.schema.json' with { type: 'json' };

export const SCHEMAS = { 'model-metadata': metadataSchema, 'face-pipeline': pipelineSchema,
  manifest: manifestSchema, 'parity-report': paritySchema, 'face-result': faceResultSchema,
  adaptation: adaptationSchema, profile: profileSchema };
const KNOWN = new Set(['$schema', '$id', 'title', 'description', 'type', 'required', 'properties', 'additionalProperties',
  'const', 'enum', 'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minItems', 'maxItems',
  'uniqueItems', 'items', 'minLength', 'maxLength', 'pattern']);
const ARTICLE = { object: 'an object', array: 'an array', string: 'a string', number: 'a number',
  integer: 'an integer', boolean: 'a boolean', null: 'null' };

export class SchemaError extends Error {}

function typeOf(x) {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'array';
  if (typeof x === 'number') return Number.isFinite(x) ? 'number' : (Number.isNaN(x) ? 'NaN' : String(x));
  return typeof x;
}

/** A value as the message shows it, the same text as fer_browser/schema.py's show(). */
export function show(x) {
  const kind = typeOf(x);
  if (kind === 'number') return String(x);
  if (kind === 'string') return JSON.stringify(x.length <= 40 ? x : `${x.slice(0, 40)}...`);
  if (kind === 'boolean' || kind === 'null') return String(x);
  return ARTICLE[kind] ?? kind;
}

const hasType = (x, t) => (t === 'integer' ? Number.isInteger(x) : typeOf(x) === t);
// JSON equality (deep, for const/enum and uniqueItems); object keys sorted like Python's sort_keys
const canon = (x) => JSON.stringify(x, (k, v) => (typeOf(v) === 'object' ? Object.fromEntries(Object.entries(v).sort()) : v));
// a.b, or a["b.json"] for a key that is not a plain name (the same as fer_browser/schema.py)
const join = (path, key) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(key) ? (path ? `${path}.${key}` : key) : `${path}[${JSON.stringify(key)}]`);

function check(x, s, path) {
  const fail = (what) => { throw new SchemaError(`${path || 'the document'} ${what}`); };
  const unknown = Object.keys(s).find((k) => !KNOWN.has(k));
  if (unknown) throw new Error(`schema keyword "${unknown}" is not implemented`);
  if ('type' in s && !hasType(x, s.type)) fail(`must be ${ARTICLE[s.type]}, got ${show(x)}`);
  if (typeof x === 'number' && !Number.isFinite(x)) fail(`must be a finite number, got ${show(x)}`);
  if ('const' in s && canon(x) !== canon(s.const)) fail(`must be ${show(s.const)}, got ${show(x)}`);
  if ('enum' in s && !s.enum.some((e) => canon(x) === canon(e))) fail(`must be one of ${s.enum.map(show).join(', ')}, got ${show(x)}`);
  if (typeOf(x) === 'number') {
    for (const [key, op, ok] of [['minimum', '>=', (b) => x >= b], ['maximum', '<=', (b) => x <= b],
      ['exclusiveMinimum', '>', (b) => x > b], ['exclusiveMaximum', '<', (b) => x < b]]) {
      if (key in s && !ok(s[key])) fail(`must be ${op} ${show(s[key])}, got ${show(x)}`);
    }
  }
  if (typeof x === 'string') {
    // Python counts code points; so does [...x]
    const n = [...x].length;
    if (n < (s.minLength ?? 0)) fail(`must have at least ${s.minLength} characters, got ${show(x)}`);
    if ('maxLength' in s && n > s.maxLength) fail(`must have at most ${s.maxLength} characters, got ${n}`);
    if ('pattern' in s && !new RegExp(s.pattern, 'u').test(x)) fail(`must match ${s.pattern}, got ${show(x)}`);
  }
  if (Array.isArray(x)) {
    if (x.length < (s.minItems ?? 0)) fail(`must have at least ${s.minItems} items, got ${x.length}`);
    if ('maxItems' in s && x.length > s.maxItems) fail(`must have at most ${s.maxItems} items, got ${x.length}`);
    if (s.uniqueItems) {
      const seen = new Set();
      x.forEach((item, i) => {
        const key = canon(item);
        if (seen.has(key)) throw new SchemaError(`${path}[${i}] repeats an earlier item: ${show(item)}`);
        seen.add(key);
      });
    }
    if ('items' in s) x.forEach((item, i) => check(item, s.items, `${path}[${i}]`));
  }
  if (typeOf(x) === 'object') {
    const props = s.properties ?? {};
    for (const key of s.required ?? []) {
      if (Object.hasOwn(x, key)) continue;
      const want = Object.hasOwn(props[key] ?? {}, 'const') ? ` (must be ${show(props[key].const)})` : '';
      throw new SchemaError(`${join(path, key)} is missing${want}`);
    }
    for (const [key, sub] of Object.entries(props)) if (Object.hasOwn(x, key)) check(x[key], sub, join(path, key));
    const extra = s.additionalProperties ?? true;
    for (const key of Object.keys(x).filter((k) => !Object.hasOwn(props, k) && extra !== true)) {
      if (extra === false) throw new SchemaError(`${join(path, key)} is not allowed here`);
      check(x[key], extra, join(path, key));
    }
  }
}

const fsum = (xs) => xs.reduce((a, b) => a + b, 0);

/** The rules between fields (run after the schema passed); the same as cross_check in fer_browser/schema.py. */
export function crossCheck(doc, contract) {
  if (contract === 'model-metadata' && Object.hasOwn(doc, 'prior')) {
    const probs = doc.prior.probabilities, n = doc.classes.length;
    if (probs.length !== n) throw new SchemaError(`prior.probabilities has ${probs.length} entries, classes has ${n}`);
    if (Math.abs(fsum(probs) - 1) > 1e-6) throw new SchemaError(`prior.probabilities must sum to 1 (within 1e-6), got ${show(fsum(probs))}`);
  }
  if (contract === 'face-result') {
    const probs = doc.probabilities;
    if (!Object.hasOwn(probs, doc.label)) throw new SchemaError(`label ${show(doc.label)} is not a key of probabilities`);
    if (Math.abs(doc.confidence - probs[doc.label]) > 1e-6) {
      throw new SchemaError(`confidence must be probabilities[label] (within 1e-6), got ${show(doc.confidence)} and ${show(probs[doc.label])}`);
    }
  }
  if (contract === 'profile') profileCrossCheck(doc);
  if (contract === 'face-pipeline') {
    const [low, high] = doc.detector.inputRange;
    if (!(low < high)) throw new SchemaError(`detector.inputRange must be [low, high] with low < high, got [${show(low)}, ${show(high)}]`);
    const { minEvery, maxEvery } = doc.cadence;
    if (minEvery > maxEvery) throw new SchemaError(`cadence.minEvery must be <= cadence.maxEvery, got ${show(minEvery)} > ${show(maxEvery)}`);
  }
}

function profileCrossCheck(doc) {
  const model = doc.model.classes, classes = doc.classes, k = classes.length;
  model.forEach((name, i) => { // the head's first columns are the model's outputs, in order
    if (i >= k || classes[i] !== name) {
      const got = i < k ? show(classes[i]) : 'nothing';
      throw new SchemaError(`classes[${i}] must be ${show(name)} (classes start with model.classes in order), got ${got}`);
    }
  });
  for (let i = model.length; i < k; i += 1) {
    if (model.includes(classes[i])) throw new SchemaError(`classes[${i}] ${show(classes[i])} is a model class; a custom class needs its own name`);
    if (classes.slice(model.length, i).includes(classes[i])) throw new SchemaError(`classes[${i}] repeats an earlier custom class: ${show(classes[i])}`);
  }
  for (const [key, values] of [['counts', doc.counts], ['head.bias', doc.head.bias]]) {
    if (values.length !== k) throw new SchemaError(`${key} has ${values.length} entries, classes has ${k}`);
  }
  const { weights } = doc.head, d = doc.head.center.length;
  weights.forEach((row, j) => {
    if (row.length !== k) throw new SchemaError(`head.weights[${j}] has ${row.length} entries, classes has ${k}`);
  });
  if (weights.length !== d) throw new SchemaError(`head.weights has ${weights.length} rows, head.center has ${d} entries`);
  doc.hidden.forEach((name, i) => {
    if (!classes.includes(name)) throw new SchemaError(`hidden[${i}] ${show(name)} is not one of classes`);
  });
  if (k - doc.hidden.length < 2) throw new SchemaError(`hidden leaves ${k - doc.hidden.length} of ${k} classes visible; at least 2 must stay`);
}

/**
 * `doc` if it keeps the contract, else a SchemaError 'WHERE: PATH must ...' (one line).
 * @param {any} doc
 * @param {'model-metadata' | 'face-pipeline' | 'manifest' | 'parity-report' | 'face-result' | 'adaptation' | 'profile'} contract
 * @param {string} where
 */
export function validate(doc, contract, where) {
  const schema = Object.hasOwn(SCHEMAS, contract) ? SCHEMAS[contract] : null;
  if (!schema) throw new Error(`unknown contract ${JSON.stringify(contract)}`);
  try {
    check(doc, schema, '');
    crossCheck(doc, contract);
  } catch (err) {
    if (err instanceof SchemaError) throw new SchemaError(`${where}: ${err.message}`);
    throw err;
  }
  return doc;
}
