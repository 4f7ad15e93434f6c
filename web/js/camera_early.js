// Start camera takes a click before the page's code has loaded (half a second here, well over a
// second on a slow phone, bench/bench_bytes.py): the camera starts opening at once, while TF.js and
// the model load, and camera.js takes the stream over when it is wired. Without this a click that
// early did nothing. A classic script, run as soon as the page is parsed: it imports nothing, so it
// waits for no module. The camera's constraints live here, for both.
'use strict';
(() => {
  const CONSTRAINTS = { video: { width: { ideal: 640 }, height: { ideal: 480 }, facingMode: 'user' }, audio: false };
  const start = document.getElementById('start');
  let clicked = false;
  let early = null; // the stream a click asked for before camera.js was wired (a promise), if it could

  const open = () => navigator.mediaDevices.getUserMedia(CONSTRAINTS);
  const onClick = () => {
    if (clicked) return;
    clicked = true;
    start.disabled = true; // opening; camera.js enables it again as it sees fit
    if (!navigator.mediaDevices?.getUserMedia) return; // camera.js says why once it loads
    early = open();
    early.catch(() => {}); // reported when camera.js takes it over, not as an unhandled rejection
  };
  start.addEventListener('click', onClick);

  self.ferCamera = {
    /**
     * The page's code is wired: clicks are its own from now on. {clicked, stream}: whether Start was
     * clicked before, and the stream it asked for (a promise, or null where there is no camera API).
     */
    takeOver() {
      start.removeEventListener('click', onClick);
      return { clicked, stream: early };
    },
    /** A camera stream with the page's constraints (a promise; rejects as getUserMedia does). */
    open,
  };
})();
