"""predict's face detector: the browser's BlazeFace weights, translated to ONNX (committed as
models/blazeface/blazeface.onnx), decoded like web/lib/blazeface.js."""
from __future__ import annotations

import subprocess

import cv2
import numpy as np
import pytest

from predict_helpers import PYTHON, ROOT, match, photos

from fer_browser.predict import blazeface
from fer_browser.predict.detector import FaceDetector, letterbox, resize_bilinear

OUTPUTS = ["Identity_2", "Identity", "Identity_3", "Identity_1"]


@pytest.fixture(scope="module")
def detector():
    return FaceDetector()


def tf_reference(x: np.ndarray) -> list[np.ndarray]:
    """Run the original GraphDef from blazeface.json with TensorFlow itself."""
    import tensorflow as tf
    from google.protobuf import json_format

    nodes, weights, _ = blazeface.load_tfjs_graph()
    graph_def = tf.compat.v1.GraphDef()
    for node in nodes:
        nd = json_format.ParseDict(node, graph_def.node.add())
        if node["op"] == "Const":
            nd.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights[node["name"]]))
        if node["op"] == "_FusedConv2D":  # the TF.js converter drops this required attribute
            nd.attr["TArgs"].list.type.extend([tf.float32.as_datatype_enum] * nd.attr["num_args"].i)
    fn = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    pruned = fn.prune(fn.graph.get_tensor_by_name("input:0"), [fn.graph.get_tensor_by_name(f"{o}:0") for o in OUTPUTS])
    return [t.numpy() for t in pruned(tf.constant(x))]


def test_onnx_translation_matches_tensorflow_on_the_original_graph(detector):
    """A fresh translation of blazeface.json, and the committed ONNX file the detector loads."""
    path, _ = photos()["two_faces"]
    frame = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    noise = np.random.default_rng(0).uniform(-1, 1, (1, 256, 256, 3)).astype(np.float32)
    fresh = blazeface.session(model=blazeface.to_onnx()[0])
    sigmoid = lambda o: 1 / (1 + np.exp(-np.clip(o, -50, 50)))  # noqa: E731
    for x in (letterbox(frame)[0], noise):
        want = tf_reference(x)
        for session in (fresh, detector.session):
            ours = session.run(OUTPUTS, {"input": x})
            for got, ref in zip(ours, want):
                assert got.shape == ref.shape
                assert np.abs(got - ref).max() <= 1e-5 * np.abs(ref).max() + 1e-3
            # both score heads (outputs 1 and 3), as probabilities: where the detector's threshold acts
            for k in (1, 3):
                assert np.abs(sigmoid(ours[k]) - sigmoid(want[k])).max() < 1e-4, k


def test_committed_onnx_file_is_a_fresh_translation():
    """Same nodes and attributes, and byte-equal initializers (copied weights, not computed floats),
    so no float hash is compared across machines; the ONNX files' bytes may differ by onnx version."""
    import onnx

    committed = onnx.load_from_string(blazeface.read_onnx())
    fresh, _ = blazeface.to_onnx()
    assert [n.SerializeToString() for n in committed.graph.node] == [n.SerializeToString() for n in fresh.graph.node]
    assert committed.graph.input == fresh.graph.input and committed.graph.output == fresh.graph.output
    assert committed.opset_import == fresh.opset_import
    got = {t.name: (onnx.numpy_helper.to_array(t).dtype, t.dims, onnx.numpy_helper.to_array(t).tobytes())
           for t in committed.graph.initializer}
    want = {t.name: (onnx.numpy_helper.to_array(t).dtype, t.dims, onnx.numpy_helper.to_array(t).tobytes())
            for t in fresh.graph.initializer}
    assert got == want


def test_altered_or_missing_onnx_file_is_refused(tmp_path):
    bad = tmp_path / "blazeface.onnx"
    bad.write_bytes(blazeface.MODEL_ONNX.read_bytes()[:-1] + b"\0")
    blazeface.sha256_path(bad).write_bytes(blazeface.sha256_path(blazeface.MODEL_ONNX).read_bytes())
    with pytest.raises(blazeface.DetectorModelError, match="does not match its sha256"):
        blazeface.session(bad)
    blazeface.sha256_path(bad).unlink()
    with pytest.raises(blazeface.DetectorModelError, match="face detector weights not found"):
        blazeface.session(bad)


def test_detector_needs_neither_onnx_nor_node_modules():
    """At run time only ONNX Runtime loads the committed file: the onnx package is never imported
    and blazeface.json is never opened (its path is pointed at nothing)."""
    code = ("import sys\nimport fer_browser.paths as paths\n"
            "paths.BLAZEFACE_JSON = paths.ROOT / 'no-such-dir' / 'blazeface.json'\n"
            "from fer_browser.predict import blazeface\nblazeface.MODEL_JSON = paths.BLAZEFACE_JSON\n"
            "from fer_browser.predict.detector import FaceDetector\nimport numpy as np\n"
            "FaceDetector().detect(np.zeros((120, 160, 3), np.uint8))\nprint('onnx' in sys.modules)")
    out = subprocess.run([PYTHON, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


@pytest.mark.parametrize("shape, out", [((480, 640, 3), (192, 256)), ((437, 1000, 3), (112, 256)),
                                        ((90, 70, 3), (256, 199))])
def test_resize_is_tfjs_resize_bilinear(shape, out):
    """tf.image.resizeBilinear's defaults (no align corners, no half-pixel centres) = TF's v1 op."""
    import tensorflow as tf

    img = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    want = tf.compat.v1.image.resize_bilinear(img[None].astype(np.float32), out, align_corners=False,
                                              half_pixel_centers=False).numpy()[0]
    assert np.abs(resize_bilinear(img, *out) - want).max() < 1e-3


def test_letterbox_pads_right_and_bottom():
    frame = np.full((100, 200, 3), 255, np.uint8)
    x, (sx, sy) = letterbox(frame)
    assert x.shape == (1, 256, 256, 3)
    assert np.allclose(x[0, :128], 1.0) and np.allclose(x[0, 128:], -1.0)  # white image, black padding
    assert sx == sy == 200  # frame pixels spanned by the whole 256 input, along x and y


def test_finds_every_face_in_the_photos(detector):
    """Astronaut and composites with 2 and 3 copies (one mirrored): one box per face, each
    overlapping the face OpenCV's Haar cascade finds (an independent detector) by IoU >= 0.5."""
    for name, (path, expected) in photos().items():
        rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        found = [b.as_dict() for b in detector.detect(rgb)]
        assert len(found) == len(expected), name
        pairs = match(expected, found)
        assert sorted(j for j, _ in pairs) == list(range(len(found))), name  # each face its own box
        assert min(iou for _, iou in pairs) >= 0.5, (name, pairs)


def test_no_faces_where_there_are_none(detector):
    from skimage import data

    assert detector.detect(data.coffee()) == []
    assert detector.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    assert detector.detect(np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)) == []


def test_recall_on_real_faces_from_lfw(detector):
    """scikit-image's LFW subset: 100 real face crops (varied people, poses, lighting) and 100
    non-face patches, each enlarged to 100 px on a grey margin."""
    from skimage import data

    crops = (data.lfw_subset() * 255).astype(np.uint8)

    def hits(images):
        n = 0
        for img in images:
            canvas = np.full((200, 200), 128, np.uint8)
            canvas[50:150, 50:150] = cv2.resize(img, (100, 100), interpolation=cv2.INTER_CUBIC)
            n += bool(detector.detect(np.dstack([canvas] * 3)))
        return n

    assert hits(crops[:100]) >= 95
    assert hits(crops[100:]) <= 5


def test_webcam_distance_faces(detector):
    """A face about 40 px wide in a 640x480 frame (a person a couple of metres away) is found."""
    from skimage import data

    frame = np.full((480, 640, 3), 128, np.uint8)
    frame[200:392, 300:492] = cv2.resize(data.astronaut(), (192, 192), interpolation=cv2.INTER_AREA)
    faces = detector.detect(frame)
    assert len(faces) == 1 and 30 <= faces[0].width <= 45


def test_outputs_follow_face_pipeline_json():
    """The output names face_pipeline.json's "detector" section gives exist in the network with the
    shapes its feature maps imply (the anchors and decoding are pinned to the page's by the golden
    vectors of tests/test_conformance.py)."""
    from fer_browser.predict.face_pipeline import load_face_pipeline

    cfg = load_face_pipeline()["detector"]
    session = blazeface.session()
    widths = {o.name: o.shape for o in session.get_outputs()}
    for m in cfg["featureMaps"]:
        cells = (cfg["inputSize"] // m["stride"]) ** 2 * m["anchors"]
        assert widths[m["boxes"]] == [1, cells, 16] and widths[m["scores"]] == [1, cells, 1]
