// Parity check: run the reference inputs stored by `python -m convert` (reference.json + raw
// little-endian float32 inputs, already normalised) through TF.js in this page and compare the
// probabilities with PyTorch's. Same gate as convert (convert/parity.py): its thresholds for TF.js
// are read from parity.json; without one, the fp32 gate applies.

export const FP32_GATE = { max_abs_dprob: 1e-5, top1_agreement: 1.0 };

async function fetchOk(url, what) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`no ${what} at ${url} (HTTP ${res.status})`);
  return res;
}

const argmax = (p) => p.indexOf(Math.max(...p));

export async function runParity(model, baseUrl) {
  const ref = await (await fetchOk(`${baseUrl}/reference.json`, 'reference outputs')).json();
  const bin = await fetchOk(`${baseUrl}/${ref.inputs_file}`, 'reference inputs');
  const data = new Float32Array(await bin.arrayBuffer()); // every browser is little-endian
  const [n, ...rest] = ref.shape;
  const per = rest.reduce((a, b) => a * b, 1);
  if (data.length !== n * per) throw new Error(`reference inputs hold ${data.length} values, expected ${n * per}`);
  if (per !== model.height * model.width) throw new Error(`reference input shape ${ref.shape} does not fit the model`);
  let gate = FP32_GATE;
  const report = await fetch(`${baseUrl}/parity.json`);
  if (report.ok) gate = (await report.json()).backends?.tfjs?.thresholds ?? FP32_GATE;

  const t0 = performance.now();
  const probs = model.predictNormalized(data, n);
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
  const result = {
    n, maxAbs, agree, faces, agreeFaces, gate, ms,
    top1: agree / n, top1Faces: faces ? agreeFaces / faces : 1,
  };
  result.pass = maxAbs <= gate.max_abs_dprob
    && (gate.top1_agreement === undefined || result.top1 >= gate.top1_agreement)
    && (gate.top1_agreement_faces === undefined || result.top1Faces >= gate.top1_agreement_faces);
  return result;
}
