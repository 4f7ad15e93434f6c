// Parity check: run the reference inputs stored by `python -m convert` (reference.json +
// raw float32 inputs, already normalised) through TF.js here and compare with PyTorch's outputs.

// Largest allowed |TF.js - PyTorch| on a probability. fp32 agrees to ~1e-6 (../shared notes);
// reference.json may set its own (e.g. for a float16-quantised model).
export const DEFAULT_TOLERANCE = 1e-4;

export async function runParity(model, baseUrl) {
  const res = await fetch(`${baseUrl}/reference.json`);
  if (!res.ok) throw new Error(`no reference outputs at ${baseUrl}/reference.json (HTTP ${res.status})`);
  const ref = await res.json();
  const bin = await fetch(`${baseUrl}/${ref.inputs_file}`);
  if (!bin.ok) throw new Error(`no reference inputs at ${baseUrl}/${ref.inputs_file} (HTTP ${bin.status})`);
  const data = new Float32Array(await bin.arrayBuffer()); // little-endian, as every browser is
  const [n, ...rest] = ref.shape;
  const per = rest.reduce((a, b) => a * b, 1);
  if (data.length !== n * per) throw new Error(`reference inputs hold ${data.length} values, expected ${n * per}`);
  if (per !== model.height * model.width) throw new Error(`reference input shape ${ref.shape} does not fit the model`);
  const tolerance = ref.tolerance ?? DEFAULT_TOLERANCE;
  const t0 = performance.now();
  const probs = model.predictNormalized(data, n);
  const ms = performance.now() - t0;
  let maxAbs = 0, agree = 0, ties = 0;
  const argmax = (p) => p.indexOf(Math.max(...p));
  probs.forEach((p, i) => {
    const q = ref.pytorch_probs[i];
    p.forEach((v, k) => { maxAbs = Math.max(maxAbs, Math.abs(v - q[k])); });
    if (argmax(p) === argmax(q)) agree += 1;
    else {
      // a different top-1 is only acceptable where PyTorch's top two are within the tolerance
      const sorted = [...q].sort((a, b) => b - a);
      if (sorted[0] - sorted[1] <= tolerance) ties += 1;
    }
  });
  const pass = maxAbs <= tolerance && agree + ties === n;
  return { n, maxAbs, agree, ties, tolerance, pass, ms };
}
