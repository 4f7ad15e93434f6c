// Choosing TF.js's backend. The wasm backend is imported only when asked for, so a page that uses
// webgl or cpu never downloads it. A backend that was asked for and does not start is an error, not
// a silent fallback: the page would otherwise run on another backend at another speed.
import * as tf from '@tensorflow/tfjs';
import { folderUrl } from './config.js';

/**
 * Switch TF.js to `name` ('wasm', 'webgl', 'cpu', ...) and wait until it is ready; rejects in one
 * line naming the backend (and, for wasm, where the .wasm files were looked for) when it cannot start.
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
      // name the module that failed: with an incomplete import map it is often tfjs-core, which the
      // wasm backend imports, not the backend itself
      const failed = /specifier ["']([^"']+)["']/.exec(err.message)?.[1] ?? '@tensorflow/tfjs-backend-wasm';
      throw new Error(`the wasm backend could not be loaded: module "${failed}" did not resolve (npm install it, or map it in the import map; ${err.message})`);
    }
    if (wasmPaths && !tf.engine().registry.wasm) wasm.setWasmPaths(folderUrl(wasmPaths));
    // TF.js's threaded binary (a cross-origin isolated page) sizes its pool at half the cores, at most
    // 4: with fewer than 4 cores that is one thread, which ran slower than the plain SIMD binary
    // (issue 24, bench/bench_browser.py ours vs ours-nothreads), so those devices keep the plain one.
    const cores = globalThis.navigator?.hardwareConcurrency;
    if (!tf.engine().registry.wasm && cores && cores < 4) tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  }
  let ok = false;
  try {
    ok = await tf.setBackend(name);
  } catch {
    ok = false; // an unknown name throws; treat it like an unavailable backend
  }
  if (!ok) {
    const hint = name === 'wasm'
      ? `its .wasm files were looked for in ${wasmPaths ? folderUrl(wasmPaths) : 'the page\'s folder'}; pass wasmPaths: the folder serving @tensorflow/tfjs-backend-wasm/dist/*.wasm`
      : `pass backend: 'wasm' or 'cpu'`;
    throw new Error(`TF.js backend "${name}" failed to initialise here (${hint})`);
  }
  await tf.ready();
  return tf.getBackend();
}
