// The parity panel: run the reference inputs stored by `python -m convert` (reference.json + raw
// little-endian float32 inputs, already normalised) through TF.js in this page and compare the
// probabilities with PyTorch's, against the TF.js thresholds of the export's parity.json (the gate
// convert applied). Without a parity.json there is no gate to apply: the panel says so.
import { validate } from '../lib/schema.js';
import { el } from './dom.js';
import { state } from './state.js';

async function fetchOk(url, what) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`no ${what} at ${url} (HTTP ${res.status})`);
  return res;
}

const argmax = (p) => p.indexOf(Math.max(...p));

/** The TF.js gate of the export's parity report, or null when the export has none. */
async function tfjsGate(modelUrl) {
  const res = await fetch(new URL('parity.json', modelUrl));
  if (res.status === 404) return null;
  if (!res.ok) throw new Error(`parity report: HTTP ${res.status}`);
  const report = validate(await res.json(), 'parity-report', res.url); // its schema: web/schemas/parity-report.schema.json
  const gate = report.backends.tfjs?.thresholds;
  if (!gate) throw new Error(`${res.url}: the parity report has no TF.js thresholds`);
  return gate;
}

/** Compare TF.js with the stored PyTorch outputs; pass is null without a parity report. */
export async function runParity(model, modelUrl) {
  const ref = await (await fetchOk(new URL('reference.json', modelUrl), 'reference outputs')).json();
  const bin = await fetchOk(new URL(ref.inputs_file, modelUrl), 'reference inputs');
  const data = new Float32Array(await bin.arrayBuffer()); // every browser is little-endian
  const [n, ...rest] = ref.shape;
  const per = rest.reduce((a, b) => a * b, 1);
  if (data.length !== n * per) throw new Error(`reference inputs hold ${data.length} values, expected ${n * per}`);
  if (per !== model.height * model.width) throw new Error(`reference input shape ${ref.shape} does not fit the model`);
  const gate = await tfjsGate(modelUrl);
  const t0 = performance.now();
  const probs = await model.predictNormalized(data, n);
  const ms = performance.now() - t0;
  let maxAbs = 0, agree = 0, faces = 0, agreeFaces = 0;
  probs.forEach((p, i) => {
    const q = ref.pytorch_probs[i];
    p.forEach((v, k) => { maxAbs = Math.max(maxAbs, Math.abs(v - q[k])); });
    const same = argmax(p) === argmax(q);
    agree += same;
    if (!ref.kinds || ref.kinds[i] === 'face') {
      faces += 1;
      agreeFaces += same;
    }
  });
  const r = { n, maxAbs, agree, faces, agreeFaces, gate, ms, top1: agree / n, top1Faces: faces ? agreeFaces / faces : 1 };
  r.pass = gate === null ? null : maxAbs <= gate.max_abs_dprob
    && (gate.top1_agreement === undefined || r.top1 >= gate.top1_agreement)
    && (gate.top1_agreement_faces === undefined || r.top1Faces >= gate.top1_agreement_faces);
  return r;
}

function gateText(gate) {
  if (!gate) return 'no parity report (parity.json) in this export';
  const pct = (x) => `${(100 * x).toFixed(1)}%`;
  const parts = [`|Δ| ≤ ${gate.max_abs_dprob.toExponential(0)}`];
  if (gate.top1_agreement !== undefined) parts.push(`top-1 ≥ ${pct(gate.top1_agreement)}`);
  if (gate.top1_agreement_faces !== undefined) parts.push(`top-1 on faces ≥ ${pct(gate.top1_agreement_faces)}`);
  return parts.join(', ');
}

/** The button's handler: run the check, show the table. */
export async function checkParity(modelUrl) {
  el.parity.disabled = true;
  el.parityResult.textContent = 'running…';
  delete el.parityResult.dataset.pass;
  try {
    const r = await runParity(state.recognizer.model, modelUrl);
    const pct = (x) => `${(100 * x).toFixed(1)}%`;
    const verdict = r.pass === null ? 'no parity report' : r.pass ? 'PASS' : 'FAIL';
    const rows = [
      ['Reference inputs', `${r.n} (${r.faces} faces)`],
      ['max |Δ| probability', r.maxAbs.toExponential(2)],
      ['Top-1 agreement', `${r.agree}/${r.n} (${pct(r.top1)}); faces ${r.agreeFaces}/${r.faces}`],
      ['Gate', gateText(r.gate)],
      ['Backend', `${state.backend}, ${r.ms.toFixed(0)} ms`],
      ['Result', verdict],
    ];
    const table = document.createElement('table');
    for (const [k, v] of rows) {
      const tr = table.insertRow();
      tr.insertCell().textContent = k;
      tr.insertCell().textContent = v;
    }
    table.rows[rows.length - 1].cells[1].className = r.pass === null ? '' : r.pass ? 'pass' : 'fail';
    el.parityResult.replaceChildren(table);
    el.parityResult.dataset.pass = r.pass === null ? 'none' : String(r.pass);
    state.parity = r;
  } catch (err) {
    el.parityResult.textContent = `Parity check failed to run: ${err.message}`;
    el.parityResult.dataset.pass = 'false';
  }
  el.parity.disabled = false;
}
