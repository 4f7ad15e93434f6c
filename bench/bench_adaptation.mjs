// How long the page's personal-adaptation fit takes (web/lib/adaptation.js fitHead): 7 classes x 30
// recorded frames (the page's recording.frames) of 192-value embeddings, plus one custom class, in V8
// (Node; Chromium runs the same engine). Synthetic post-ReLU embeddings: the time depends only on the
// sizes and web/adaptation.json's steps. Prints the median of 7 runs after 2 warm-ups.
//
//   node bench/bench_adaptation.mjs [--frames 30] [--classes 7] [--dim 192]
import { ADAPTATION, fitHead } from '../web/lib/adaptation.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const frames = arg('frames', ADAPTATION.recording.frames);
const kModel = arg('classes', 7);
const dim = arg('dim', 192);
let seed = 1;
const rand = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };

function run(nClasses) {
  const n = frames * nClasses;
  const embeddings = Array.from({ length: n }, () => Array.from({ length: dim }, () => Math.max(0, rand() * 2 - 0.5)));
  const logProbs = Array.from({ length: n }, () => {
    const z = Array.from({ length: kModel }, () => rand() * 4);
    const lse = Math.log(z.reduce((a, v) => a + Math.exp(v), 0));
    return z.map((v) => v - lse);
  });
  const labels = Array.from({ length: n }, (_, i) => i % nClasses);
  const t0 = performance.now();
  fitHead(embeddings, logProbs, labels, nClasses, null);
  return performance.now() - t0;
}

for (const [what, nClasses] of [['the model\'s classes', kModel], ['plus one custom class', kModel + 1]]) {
  for (let i = 0; i < 2; i += 1) run(nClasses);
  const times = Array.from({ length: 7 }, () => run(nClasses)).sort((a, b) => a - b);
  console.log(`${nClasses} classes (${what}) x ${frames} frames, ${dim} values, ${ADAPTATION.fit.steps} steps: ` +
    `median ${times[3].toFixed(1)} ms (min ${times[0].toFixed(1)}, max ${times[6].toFixed(1)}), node ${process.version}`);
}
