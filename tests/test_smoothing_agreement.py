"""One face_pipeline.json, two implementations: the browser library's tracker + EMA smoother
(web/lib/tracker.js, web/lib/smoothing.js, run in Node) and predict's Smoother give the same
tracks and the same smoothed probabilities on the same frames of detections."""
import json
import shutil
import subprocess

import numpy as np

from fer_browser.predict.boxes import Box
from fer_browser.predict.face_pipeline import load_face_pipeline
from fer_browser.predict.pipeline import Face
from fer_browser.predict.tracking import Smoother
from predict_helpers import ROOT

FRAME_MS = 33  # one detector run per frame, as predict runs it


def frames(seed: int = 0) -> list[list[dict]]:
    """Two faces drifting a few pixels per frame; the second leaves for longer than the tracker
    keeps a missing face and comes back (a new track, smoothing starts afresh), the first blinks
    out for one frame (the same track, its smoothing state kept)."""
    rng = np.random.default_rng(seed)
    out = []
    for f in range(24):
        faces = []
        if f != 9:
            faces.append({"x": 40 + 2 * f, "y": 50 + f, "width": 80, "height": 80})
        if not 6 <= f < 12:
            faces.append({"x": 300 - f, "y": 60, "width": 70, "height": 70})
        for face in faces:
            p = rng.dirichlet(np.ones(7))
            face["probs"] = p.tolist()
        out.append(faces)
    return out


def run_js(seq: list[list[dict]]) -> list[list[dict]]:
    node = shutil.which("node")
    assert node, "node (20+) is needed"
    lib = ROOT / "web" / "lib"
    code = f"""
import {{ readFileSync }} from 'node:fs';
import {{ FaceTracker }} from {json.dumps((lib / 'tracker.js').as_uri())};
import {{ EmaSmoother }} from {json.dumps((lib / 'smoothing.js').as_uri())};
const cfg = JSON.parse(readFileSync({json.dumps(str(ROOT / 'web' / 'face_pipeline.json'))}, 'utf8'));
const seq = JSON.parse(readFileSync(0, 'utf8'));
const tracker = new FaceTracker(cfg.tracking), smoother = new EmaSmoother(cfg.smoothing.alpha);
const out = seq.map((faces, f) => {{
  const shown = tracker.update(faces.map(({{probs, ...b}}) => ({{...b, score: 1}})), f * {FRAME_MS});
  smoother.retain(tracker.tracks.map((t) => t.id));
  // predict() lists the tracks in their own order: find each input face's track by its box
  return faces.map((face) => {{
    const t = shown.find((s) => s.box.x === face.x && s.box.y === face.y);
    return {{ id: t.id, probs: smoother.update(t.id, face.probs) }};
  }});
}});
console.log(JSON.stringify(out));
"""
    proc = subprocess.run([node, "--no-warnings", "--input-type=module", "-e", code],
                          input=json.dumps(seq), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def run_python(seq: list[list[dict]]) -> list[list[dict]]:
    smoother = Smoother(config=load_face_pipeline())
    out = []
    for faces in seq:
        got = smoother.update([Face(Box(f["x"], f["y"], f["width"], f["height"]), np.array(f["probs"]))
                               for f in faces])
        out.append([{"id": track, "probs": face.probs.tolist()} for track, face in got])
    return out


def same_partition(a: list[list[dict]], b: list[list[dict]]) -> bool:
    """Track ids are numbered differently on each side (1.. and 0..); the tracks must be the same."""
    pairs = {(x["id"], y["id"]) for fa, fb in zip(a, b) for x, y in zip(fa, fb)}
    return len({p[0] for p in pairs}) == len({p[1] for p in pairs}) == len(pairs)


def test_page_and_predict_track_and_smooth_alike():
    seq = frames()
    js, py = run_js(seq), run_python(seq)
    assert [len(f) for f in js] == [len(f) for f in py] == [len(f) for f in seq]
    assert same_partition(js, py)
    # the second face came back after a long absence: a new track on both sides
    assert len({x["id"] for f in py for x in f}) == 3
    for fa, fb in zip(js, py):
        for x, y in zip(fa, fb):
            np.testing.assert_allclose(x["probs"], y["probs"], atol=1e-12)
    # and the smoothing is real: after the first frame the output differs from the raw reading
    assert not np.allclose(py[5][0]["probs"], seq[5][0]["probs"])

