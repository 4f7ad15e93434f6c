// A hidden page (another tab in front, the phone's screen off) spends no CPU on the camera: the
// detector/model loop pauses while document.visibilityState is 'hidden' and resumes once the page is
// visible again. The user's own Pause is left as it was: a camera paused by hand stays paused.
import { state } from './state.js';
import { resetStats } from './stats.js';

let installed = false;

export function pauseWhenHidden() {
  if (installed) return;
  installed = true;
  document.addEventListener('visibilitychange', () => {
    if (state.mode !== 'camera' || !state.running || !state.live) return;
    const visible = document.visibilityState !== 'hidden';
    if (visible) resetStats(); // frames/s must not average over the hidden stretch
    state.live.setRunning(visible);
  });
}
