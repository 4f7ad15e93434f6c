// Reference for tests/test_faceres_model.py: runs a TF.js graph model (model.json + shards read from
// disk) with TF.js itself, CPU backend. Args: model.json, raw float32 NHWC input, its shape (JSON), output JSON.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
const [modelPath, inputPath, shapeJson, outPath] = process.argv.slice(2);
const model = JSON.parse(readFileSync(modelPath, 'utf8'));
// The graph is fully convolutional: drop the placeholder's declared 224x224 (checked by execute) so
// the smaller sizes the training model uses can be compared too. No op of the graph changes.
model.modelTopology.node.filter((n) => n.op === 'Placeholder').forEach((n) => { delete n.attr.shape; });
delete model.signature.inputs;
const specs = model.weightsManifest.flatMap((g) => g.weights);
const bins = model.weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(join(dirname(modelPath), p))));
const all = Buffer.concat(bins);
const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
await tf.setBackend('cpu');
const graph = await tf.loadGraphModel(tf.io.fromMemory({ modelTopology: model.modelTopology, weightSpecs: specs, weightData, signature: model.signature }));
const buf = readFileSync(inputPath);
const x = tf.tensor(new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4), JSON.parse(shapeJson));
const names = Object.values(model.signature.outputs).map((o) => o.name);
const outs = graph.execute(x, names);
const result = {};
names.forEach((n, i) => { result[n] = { shape: outs[i].shape, data: Array.from(outs[i].dataSync()) }; });
writeFileSync(outPath, JSON.stringify(result));
