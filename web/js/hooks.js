// Read-only hooks for the tests and the benchmark (tests/test_web.py, bench/bench_browser.py):
// window.ferApp. Nothing in the page reads them.
import * as tf from '@tensorflow/tfjs';
import { state } from './state.js';
import { stats } from './stats.js';
import { timeline } from './timeline.js';

export function installHooks(ready) {
  window.ferApp = {
    ready,
    state,
    stats,
    get parity() { return state.parity; },
    /** The faces on screen, probabilities as a list in the model's class order. */
    results: () => state.results.map((f) => ({ box: f.box, label: f.label, id: f.id,
      probs: state.recognizer.classes.map((c) => f.probabilities[c]) })),
    /** The labels drawn over the faces, in canvas pixels, and the canvas size. */
    labels: () => ({ rects: state.labels, width: document.getElementById('canvas').width,
      height: document.getElementById('canvas').height }),
    memory: () => ({ numTensors: tf.memory().numTensors, numBytes: tf.memory().numBytes }),
    backend: () => tf.getBackend(),
    live: () => state.live && { frames: state.live.frames, detectorCalls: state.live.detectorCalls,
      every: state.recognizer?.cadence.every, threads: state.threads,
      tracks: state.recognizer?.tracker.tracks.map((t) => ({ id: t.id, missed: t.missed })) },
    // chart: the page's own timeline object (with the page bundled, import('/js/timeline.js') is another copy)
    timeline: { points: () => timeline.points(), csv: () => timeline.csv(), drawn: () => timeline.drawn, chart: timeline },
    /** The active profile (null when none or off) and the faces' classes. */
    profile: () => state.recognizer?.profile ?? null,
    classes: () => state.recognizer?.classes ?? null,
  };
}
