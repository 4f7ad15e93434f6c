// Backends other than wasm are fetched only when chosen: the page's TF.js (tf.js) registers none.
// fer-browser imports the wasm backend itself; without WebAssembly the page falls back to webgl, as
// the full TF.js bundle did.
export async function registerBackend(name) {
  if (name === 'webgl' || typeof WebAssembly !== 'object') await import('@tensorflow/tfjs-backend-webgl');
}
