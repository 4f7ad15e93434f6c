// Personal adaptation, the browser's twin of fer_browser/adaptation.py (its docstring has the math;
// tests/conformance/adaptation.json holds vectors both reproduce to 1e-6). Plain Float64 loops, no tf:
// a fit is deterministic, and 7 classes x 30 frames take well under a second.
//   z_k = base_k + w_k . (e - center) / scale + b_k     (w_k, b_k = 0 for classes without recordings)
import settingsJson from '../adaptation.json' with { type: 'json' };
import { validate } from './schema.js';

/** web/adaptation.json, checked against its schema (the file Python reads too). */
export const ADAPTATION = validate(settingsJson, 'adaptation', 'adaptation.json');

/** One-line errors for samples a head cannot be fitted on. */
export class AdaptationError extends Error {}

/** The model's log-probabilities, then log(1 / K_model) for each custom class. */
function baseRow(logp, nClasses) {
  const row = new Float64Array(nClasses).fill(-Math.log(logp.length));
  for (let k = 0; k < logp.length; k += 1) row[k] = logp[k];
  return row;
}

function softmaxInPlace(z) {
  let top = -Infinity;
  for (const v of z) top = Math.max(top, v);
  let sum = 0;
  for (let k = 0; k < z.length; k += 1) { z[k] = Math.exp(z[k] - top); sum += z[k]; }
  for (let k = 0; k < z.length; k += 1) z[k] /= sum;
  return z;
}

function check(embeddings, logProbs, labels, nClasses) {
  const n = embeddings.length;
  if (!n || logProbs.length !== n || labels.length !== n) {
    throw new AdaptationError(`need n >= 1 faces with an embedding, log-probabilities and a label each, got ${n}, ${logProbs.length}, ${labels.length}`);
  }
  const d = embeddings[0].length;
  const kModel = logProbs[0].length;
  for (let i = 0; i < n; i += 1) {
    if (embeddings[i].length !== d || logProbs[i].length !== kModel) throw new AdaptationError('every face needs embeddings and log-probabilities of the same sizes');
    for (const v of embeddings[i]) if (!Number.isFinite(v)) throw new AdaptationError('embeddings and log-probabilities must be finite numbers');
    for (const v of logProbs[i]) if (!Number.isFinite(v)) throw new AdaptationError('embeddings and log-probabilities must be finite numbers');
    if (!Number.isInteger(labels[i]) || labels[i] < 0 || labels[i] >= nClasses) throw new AdaptationError(`labels must be class indices in [0, ${nClasses - 1}]`);
  }
  if (kModel > nClasses) throw new AdaptationError(`${kModel} model classes but only ${nClasses} classes in all`);
  return { n, d, kModel };
}

/**
 * Fit the head (same steps, same order as Python's fit_head).
 * @param {ArrayLike<number>[]} embeddings  n rows of d
 * @param {ArrayLike<number>[]} logProbs    n rows of the model's log-probabilities
 * @param {number[]} labels                 class indices: model classes first, then custom ones
 * @param {number} nClasses
 * @param {ArrayLike<number> | null} prior  the model's class frequencies (metadata.prior), null = uniform
 * @returns {{weights: number[][], bias: number[], center: number[], scale: number, counts: number[]}}
 */
export function fitHead(embeddings, logProbs, labels, nClasses, prior = null, settings = ADAPTATION) {
  const { steps, weight_decay: wd, bias_decay: bd } = settings.fit;
  const { n, d, kModel } = check(embeddings, logProbs, labels, nClasses);
  const K = nClasses;
  const counts = new Array(K).fill(0);
  for (const y of labels) counts[y] += 1;
  const recorded = counts.map((c) => c > 0);
  const nRecorded = recorded.filter(Boolean).length;
  if (recorded.slice(kModel).some(Boolean) && nRecorded < 2) {
    throw new AdaptationError('a new expression needs recordings of at least one other expression to tell it apart');
  }
  const center = new Float64Array(d);
  for (const e of embeddings) for (let j = 0; j < d; j += 1) center[j] += e[j];
  for (let j = 0; j < d; j += 1) center[j] /= n;
  let ss = 0;
  const x = embeddings.map((e) => Float64Array.from(e, (v, j) => v - center[j]));
  for (const row of x) for (const v of row) ss += v * v;
  let scale = Math.sqrt(ss / n);
  if (!(scale > 1e-12)) scale = 1;
  let maxNorm = 0;
  for (const row of x) {
    let s = 0;
    for (let j = 0; j < d; j += 1) { row[j] /= scale; s += row[j] * row[j]; }
    maxNorm = Math.max(maxNorm, s);
  }
  const priorAll = Array.from({ length: K }, (_, k) => (k < kModel && prior ? prior[k] : 1 / kModel));
  const priorSum = priorAll.reduce((a, p, k) => a + (recorded[k] ? p : 0), 0);
  const offset = priorAll.map((p, k) => (recorded[k] ? Math.log(counts[k] / n) - Math.log(p / priorSum) : 0));
  const z0 = logProbs.map((l) => baseRow(l, K).map((v, k) => v + offset[k]));
  const step = 1 / (0.5 * (maxNorm + 1) + Math.max(wd, bd));
  let w = new Float64Array(d * K); let b = new Float64Array(K); // w[j * K + k]
  let wPrev = w; let bPrev = b;
  const vw = new Float64Array(d * K); const vb = new Float64Array(K);
  const gw = new Float64Array(d * K); const gb = new Float64Array(K);
  const z = new Float64Array(K);
  for (let t = 0; t < steps; t += 1) {
    const m = t / (t + 3);
    for (let i = 0; i < d * K; i += 1) vw[i] = w[i] + m * (w[i] - wPrev[i]);
    for (let k = 0; k < K; k += 1) vb[k] = b[k] + m * (b[k] - bPrev[k]);
    gw.fill(0); gb.fill(0);
    for (let i = 0; i < n; i += 1) {
      const xi = x[i];
      for (let k = 0; k < K; k += 1) {
        let s = z0[i][k] + vb[k];
        for (let j = 0; j < d; j += 1) s += xi[j] * vw[j * K + k];
        z[k] = s;
      }
      softmaxInPlace(z);
      z[labels[i]] -= 1;
      for (let k = 0; k < K; k += 1) {
        const g = z[k] / n;
        gb[k] += g;
        for (let j = 0; j < d; j += 1) gw[j * K + k] += xi[j] * g;
      }
    }
    const wNext = new Float64Array(d * K); const bNext = new Float64Array(K);
    for (let k = 0; k < K; k += 1) {
      if (!recorded[k]) continue; // stays 0: only recorded classes move
      bNext[k] = vb[k] - step * (gb[k] + (k < kModel ? bd : 0) * vb[k]);
      for (let j = 0; j < d; j += 1) wNext[j * K + k] = vw[j * K + k] - step * (gw[j * K + k] + wd * vw[j * K + k]);
    }
    wPrev = w; bPrev = b; w = wNext; b = bNext;
  }
  const weights = Array.from({ length: d }, (_, j) => Array.from(w.subarray(j * K, (j + 1) * K)));
  return { weights, bias: Array.from(b), center: Array.from(center), scale, counts };
}

/**
 * The head's logits for one face: base + (e - center) / scale . W + b.
 * @param {{weights: number[][], bias: number[], center: number[], scale: number}} head
 * @param {ArrayLike<number>} embedding
 * @param {ArrayLike<number>} logp the model's log-probabilities
 */
export function headLogits(head, embedding, logp) {
  const K = head.bias.length;
  const z = baseRow(logp, K);
  for (let k = 0; k < K; k += 1) z[k] += head.bias[k];
  for (let j = 0; j < head.center.length; j += 1) {
    const xj = (embedding[j] - head.center[j]) / head.scale;
    const row = head.weights[j];
    for (let k = 0; k < K; k += 1) z[k] += xj * row[k];
  }
  return z;
}

/** Probabilities over the head's classes; `hidden` class indices get 0, the rest renormalised. */
export function headProbabilities(head, embedding, logp, hidden = []) {
  const z = headLogits(head, embedding, logp);
  for (const k of hidden) z[k] = -Infinity;
  return Array.from(softmaxInPlace(z));
}
