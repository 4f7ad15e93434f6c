// For pages without a bundler: the wasm backend's ES module build imports Node's fs, os, path and
// perf_hooks (used only under Node). An import map points those names here, as a bundler's
// "browser" field maps them to nothing.
export default {};
