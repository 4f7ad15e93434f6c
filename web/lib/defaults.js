// Where createRecognizer finds its files when no URL is given: the installed package's own copies
// (models/fer-default/export/, web/face_pipeline.json, models/blazeface/) and, for the wasm backend,
// @tensorflow/tfjs-backend-wasm's .wasm files.
//
// Unbundled (an import map pointing into node_modules, or a checkout served as files), this module
// is still web/lib/defaults.js, so its import.meta.url locates the package. A bundler merges it into
// a file of its own naming and copies none of those files: then they are looked for in a folder
// `fer-browser/` beside the page, where the README says to copy the package (and the .wasm files).
import { folderUrl } from './config.js';

const SELF = /\/web\/lib\/defaults\.js$/;

/**
 * The default URLs, resolved against `filesUrl` (a folder holding the package's files) when given.
 * @param {string | URL} [filesUrl]
 * @param {string} [here] this module's URL (tests pass another)
 * @returns {{filesUrl: string, modelUrl: string, detectorUrl: string, detectorWeightsUrl: string, wasmPaths: string}}
 */
export function defaultUrls(filesUrl, here = import.meta.url) {
  const self = here ? new URL(here) : null; // a bundle in a non-module format has no import.meta.url
  const path = self?.pathname ?? '';
  const unbundled = SELF.test(path);
  let base, wasm;
  if (filesUrl !== undefined) {
    base = folderUrl(filesUrl);
    wasm = base;
  } else if (unbundled) {
    base = new URL('../../', self).href; // the package root
    // installed: tfjs-backend-wasm is a sibling package; a checkout has its own node_modules
    wasm = new URL(path.includes('/node_modules/') ? '../@tensorflow/tfjs-backend-wasm/dist/' : 'node_modules/@tensorflow/tfjs-backend-wasm/dist/', base).href;
  } else {
    base = folderUrl(new URL('fer-browser/', globalThis.document?.baseURI ?? globalThis.location?.href));
    wasm = base;
  }
  return {
    filesUrl: base,
    modelUrl: new URL('models/fer-default/export/', base).href,
    detectorUrl: new URL('web/face_pipeline.json', base).href,
    detectorWeightsUrl: new URL('models/blazeface/blazeface.json', base).href,
    wasmPaths: wasm,
  };
}
