// The page's '@tensorflow/tfjs' (index.html's import map points the name here): TF.js's core and its
// graph-model loader, all the recognizer uses. The full tf.fesm.min.js bundle also carries the layers
// API, tfjs-data and the webgl and cpu backends: twice the bytes, none needed for the first label.
// A backend's code is fetched only when it is chosen (backends.js; the wasm one by fer-browser).
export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-converter';
