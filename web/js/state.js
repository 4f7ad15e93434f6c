// The page's shared state, one object: the UI modules read and write it, hooks.js exposes it to the
// tests and the benchmark (window.ferApp.state).
export const state = {
  recognizer: null, // fer-browser's Recognizer, once loaded
  backend: null, // the TF.js backend in use
  threads: null, // wasm threads (the benchmark reports them)
  ready: false,
  loading: null, // the promise of the recognizer being loaded (Start camera may come first and waits for it)
  loadError: null, // why the last load failed: the camera then has nothing to run
  starting: false, // between a click on Start camera and the loop running
  mode: 'idle', // idle | camera | photo
  running: false, // camera: not paused
  stream: null,
  live: null, // the camera loop (camera.js)
  frames: 0, // camera frames shown
  results: [], // the faces on screen (fer-browser Face objects)
  labels: [], // where their labels were drawn: {x, y, width, height, text}, canvas pixels (draw.js)
  upload: null, // the last upload's verdict: {name, accepted, reason} (tests/test_input_policy.py)
  // bench/ and tests set [] to record every camera frame (bench_bytes.py before the page loads: self.ferFrameLog)
  frameLog: self.ferFrameLog ?? null,
  parity: null, // the last parity check's numbers
  priorStrength: null, // the Balanced slider's tau once moved (kept across a backend switch)
  profile: null, // the personal profile of this model (calibrate.js), on or off
  profileOn: false,
  calibrating: false, // the "Calibrate to me" panel is open
  recorder: null, // while recording: called with each camera frame's faces (loop.js)
  countdownMs: null, // tests shorten the recording countdown (web/adaptation.json's otherwise)
};
