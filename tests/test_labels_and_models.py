"""FERPlus label rules, the model registry and the seed's baseline architecture."""
import numpy as np
import onnx
import pytest
import onnxruntime as ort
import torch

from fer_browser.convert.to_onnx import export_onnx
from fer_browser.training.ferplus_votes import majority_labels
from fer_browser.training.labelsets import get_label_set, make_targets
from fer_browser.core.metadata import build_metadata
from fer_browser.training.models import REGISTRY, build_model, count_parameters

# columns: neutral happiness surprise sadness anger disgust fear contempt unknown NF
VOTES = np.array([
    [6, 2, 0, 0, 0, 0, 0, 0, 2, 0],   # 0: neutral, clear majority
    [4, 4, 1, 1, 0, 0, 0, 0, 0, 0],   # 1: singles dropped -> 4 of 8: not > half -> left out
    [5, 1, 1, 1, 1, 1, 0, 0, 0, 0],   # 2: singles dropped -> 5 of 5 -> neutral
    [0, 0, 0, 0, 0, 0, 0, 0, 3, 7],   # 3: NF on top -> left out
    [2, 0, 0, 0, 0, 0, 0, 0, 8, 0],   # 4: unknown on top -> left out
    [0, 0, 0, 0, 0, 0, 0, 7, 3, 0],   # 5: contempt
    [0, 0, 0, 0, 0, 3, 6, 0, 1, 0],   # 6: fear, 6 of 9 after the single unknown is dropped
], dtype=np.float32)


def test_majority_rule_hand_cases():
    assert majority_labels(VOTES).tolist() == [0, -1, 0, -1, -1, 7, 6]


def test_seven_class_sets_drop_contempt_and_soft_targets_are_distributions():
    keep7, hard7, _ = make_targets(get_label_set("ferplus"), np.zeros(7, int), VOTES)
    keep8, hard8, _ = make_targets(get_label_set("ferplus8"), np.zeros(7, int), VOTES)
    assert keep7.tolist() == [True, False, True, False, False, False, True]
    assert keep8.tolist() == [True, False, True, False, False, True, True]
    assert hard8[5] == 7
    keep, hard, soft = make_targets(get_label_set("ferplus-soft"), np.zeros(7, int), VOTES)
    assert keep.tolist() == keep7.tolist()
    np.testing.assert_allclose(soft[keep].sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(soft[6], [0, 0, 0, 0, 0, 1 / 3, 2 / 3], atol=1e-6)
    assert get_label_set("fer2013").classes[0] == "angry"
    with pytest.raises(ValueError, match="unknown label set"):
        get_label_set("affectnet")


def test_baseline_matches_the_seed_layer_for_layer():
    model = build_model("baseline", 7)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 16, 32, 64, 128, 256, 256]
    assert all(c.kernel_size == (3, 3) for c in convs)
    fcs = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert [(f.in_features, f.out_features) for f in fcs] == [(1024, 512), (512, 256), (256, 7)]
    pools = [(m.kernel_size, m.stride) for m in model.modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert sorted(pools) == [(2, 1), (2, 2)]
    # Parameter count of the seed's layers, added up by hand: convs+BN, then the three FCs.
    conv = sum(9 * i * o + o + 2 * o for i, o in [(1, 8), (8, 16), (16, 32), (32, 64), (64, 128), (128, 256), (256, 256)])
    fc = 1024 * 512 + 512 + 512 * 256 + 256 + 256 * 7 + 7
    assert count_parameters(model) == conv + fc


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_every_model_gives_log_probabilities_and_exports_a_static_flatten(name, tmp_path):
    model = build_model(name, 7).eval()
    out = model(torch.rand(3, 1, 48, 48))
    assert out.shape == (3, 7)
    np.testing.assert_allclose(out.exp().sum(1).detach().numpy(), 1.0, atol=1e-5)
    # the product's own export (convert.to_onnx), which also runs the ONNX checker and refuses dynamic ops
    path = tmp_path / "m.onnx"
    meta = build_metadata(name, {}, count_parameters(model), get_label_set("ferplus").classes, "ferplus")
    proto = export_onnx(model, meta, path)
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert ops == {n.op_type for n in proto.graph.node} and "Conv" in ops
    assert not ops & {"Shape", "Gather", "Unsqueeze", "Concat"}, ops
    x = torch.rand(2, 1, 48, 48)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x.numpy()})[0], model(x).detach().numpy(), atol=1e-5)


def test_unknown_model_name_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown model 'resnet'.*registered models: attention, baseline, faceres, vgg"):
        build_model("resnet", 7)


def test_vgg_stages_take_a_conv_count_each():
    convs = lambda m: sum(isinstance(x, torch.nn.Conv2d) for x in m.modules())  # noqa: E731
    assert convs(build_model("vgg", 7, {"widths": [8, 16, 32], "convs_per_stage": 2})) == 5  # last stage: 1
    model = build_model("vgg", 7, {"widths": [8, 16, 32], "convs_per_stage": [1, 3, 2]})
    assert convs(model) == 6 and model(torch.rand(2, 1, 48, 48)).shape == (2, 7)
    with pytest.raises(ValueError, match="convs_per_stage"):
        build_model("vgg", 7, {"widths": [8, 16, 32], "convs_per_stage": [1, 2]})
