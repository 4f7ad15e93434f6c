// Choosing TF.js's backend. The wasm backend is imported only when asked for, so a page that uses
// webgl or cpu never downloads it.
import * as tf from '@tensorflow/tfjs';
import { folderUrl } from './config.js';

/**
 * Switch TF.js to `name` ('wasm', 'webgl', 'cpu', ...) and wait until it is ready. Returns the
 * backend really in use: tf.setBackend can fall back silently when one is unavailable.
 * @param {string} [name]
 * @param {{wasmPaths?: string}} [options]  wasmPaths: the folder (URL ending in '/') serving
 *   tfjs-backend-wasm's .wasm files; without it TF.js looks beside the page
 * @returns {Promise<string>}
 */
export async function setBackend(name = 'wasm', { wasmPaths } = {}) {
  if (name === 'wasm') {
    let wasm;
    try {
      wasm = await import('@tensorflow/tfjs-backend-wasm'); // registers the backend once
    } catch (err) {
      throw new Error(`the wasm backend needs @tensorflow/tfjs-backend-wasm (npm install it, or map it in the import map): ${err.message}`);
    }
    if (wasmPaths && !tf.engine().registry.wasm) wasm.setWasmPaths(folderUrl(wasmPaths));
  }
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch {
    ok = false; // an unknown name throws; treat it like an unavailable backend
  }
  await tf.ready();
  if (!ok) console.warn(`TF.js backend ${name} is unavailable here; using ${tf.getBackend()}`);
  return tf.getBackend();
}
