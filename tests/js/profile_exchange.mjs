// Run by tests/test_profile.py: the page's side of a profile exchange with Python, in folder argv[2].
// Reads inputs.json and Python's profile (py.json); writes js_out.json with the probabilities
// web/lib/profile.js gives from Python's profile, and js.json, the profile the page fits on the same faces.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fitHead } from '../../web/lib/adaptation.js';
import { makeProfile, parseProfile, profileProbabilities } from '../../web/lib/profile.js';

const dir = process.argv[2];
const read = (name) => readFileSync(join(dir, name), 'utf8');
const meta = JSON.parse(read('meta.json'));
const io = JSON.parse(read('inputs.json'));
const fromPython = parseProfile(read('py.json'), meta, 'py.json');
const probabilities = io.test_embeddings.map((e, i) => profileProbabilities(fromPython, e, io.test_log_probs[i]));
const head = fitHead(io.embeddings, io.log_probs, io.labels, io.n_classes, meta.prior?.probabilities ?? null);
writeFileSync(join(dir, 'js.json'), JSON.stringify(makeProfile(head, meta, io.custom, io.hidden)));
writeFileSync(join(dir, 'js_out.json'), JSON.stringify({ probabilities }));
