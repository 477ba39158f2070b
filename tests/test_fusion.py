"""How fused models combine their streams: the rule read off their outputs, and the arithmetic shown."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from core_models.inspect import fusion_rule, inspect_clip, load_model
from viz.fusion import fusion_classes, fusion_table, fusion_text

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
NAMES = ["typing", "reading", "writing"]


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_the_rule_is_read_off_the_outputs():
    rgb, pose = torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([[0.3, 1.2, 0.0]])
    streams = {"rgb": rgb, "pose": pose}
    assert fusion_rule(rgb + pose + 7.0, streams) == "sum of logits"  # a constant shift changes nothing
    mean_probs = torch.log((rgb.softmax(-1) + pose.softmax(-1)) / 2)
    assert fusion_rule(mean_probs, streams) == "mean of probabilities"
    assert fusion_rule((rgb + pose) / 2, streams) == "mean of logits"
    assert fusion_rule(torch.tensor([[5.0, 0.0, 0.0]]), streams) is None
    assert fusion_rule(rgb, {"rgb": rgb}) is None  # one head is not a fusion


def test_sum_of_logits_is_written_out_as_a_product_of_probabilities():
    rgb, pose = np.array([2.0, 1.6, -1.0]), np.array([0.8, 0.3, -2.0])
    probs = _softmax(rgb + pose)
    streams = {"rgb": rgb, "pose": pose}
    table = fusion_table(NAMES, streams, probs, "sum of logits", truth=1)
    assert list(table["class"]) == ["typing", "reading (truth)"]  # fused top, truth; streams' tops among them
    assert list(table.columns) == ["class", "RGB logit", "RGB prob", "POSE logit", "POSE prob",
                                   "sum of logits", "fused prob"]  # fmt: skip
    assert table["sum of logits"].iloc[0] == pytest.approx(2.8)
    assert table["fused prob"].iloc[0] == pytest.approx(probs[0], abs=1e-3)
    text = fusion_text(NAMES, streams, probs, "sum of logits")
    assert "adds the streams' logits" in text and "2.00 (RGB) + 0.80 (POSE) = **2.80**" in text
    # the product form gives the fused probability, as the text says
    shown = [float(x) for x in re.findall(r"= \*\*([0-9.]+)\*\*", text)]
    assert shown[-1] == pytest.approx(probs[0], abs=1e-3) and f"**{probs[0]:.3f}**" in text


def test_mean_of_probabilities_and_an_unknown_rule():
    a, b = np.array([3.0, 0.0, 0.0]), np.array([0.0, 2.0, 0.0])
    probs = (_softmax(a) + _softmax(b)) / 2
    text = fusion_text(NAMES, {"i3d": a, "cnn2d": b}, probs, "mean of probabilities")
    assert f"**{probs.max():.3f}**" in text and "averages the streams' probabilities" in text
    table = fusion_table(NAMES, {"i3d": a, "cnn2d": b}, probs, "mean of probabilities")
    assert table["mean of probs"].iloc[0] == pytest.approx(probs[0], abs=1e-3)
    assert fusion_classes({"i3d": a, "cnn2d": b}, probs, None) == [0, 1]
    assert "outputs do not show" in fusion_text(NAMES, {"i3d": a, "cnn2d": b}, probs, None)
    with pytest.raises(ValueError, match="two streams"):
        fusion_table(NAMES, {"i3d": a}, probs, None)


def with_pose_classifier(name: str, out: Path) -> Path:
    """``name``'s shipped checkpoint with the "+ pose classifier" option turned on: its trained
    weights, and a pose classifier (seeded, untrained) whose logits are added to the RGB path's.
    No shipped v2 model fuses one; the arithmetic shown is the same whatever the weights."""
    from core_models.checkpoint import build_model_with, load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(CHECKPOINTS / name / "model.pt")
    config = {**ckpt["config"], "pose_scores": True}
    torch.manual_seed(0)
    model = build_model_with(ckpt["model"], ckpt["preset"], num_classes=ckpt["num_classes"],
                             layout_name=ckpt["layout"], config=config, legacy=True)  # fmt: skip
    missing, unexpected = model.load_state_dict(ckpt["state_dict"], strict=False)
    assert not unexpected and missing and all(k.startswith("pose_scores.") for k in missing)
    ckpt = {k: v for k, v in ckpt.items() if k != "ood"}  # its statistics are of the RGB features alone
    return save_checkpoint(out / "model.pt", {**ckpt, "config": config, "state_dict": model.state_dict()})


@pytest.mark.parametrize("name, rule", [("temporal_granularity-cs", "sum of logits"),
                                        ("late_fusion-cs", "mean of probabilities")])  # fmt: skip
def test_fused_models_show_their_rule(name, rule, tmp_path):
    from core_models.synth.generate import dataset_clip

    path = (
        with_pose_classifier(name, tmp_path) if rule == "sum of logits" else CHECKPOINTS / name / "model.pt"
    )
    insp = inspect_clip(load_model(path, name), dataset_clip("S001C002P003R001A030"))
    assert insp.fusion == rule and len(insp.stream_logits) == 2
    assert set(insp.streams) == set(insp.stream_logits)
    table = fusion_table(insp.class_names, insp.stream_logits, insp.probs, insp.fusion, insp.label)
    assert table["fused prob"].iloc[0] == pytest.approx(insp.confidence, abs=1e-3)
    assert f"**{insp.confidence:.3f}**" in fusion_text(insp.class_names, insp.stream_logits, insp.probs, rule)


@pytest.mark.parametrize("name", ["glimpse_clouds-cs", "part_attention-cs"])
def test_a_model_with_one_extra_head_has_no_streams(name):
    """Glimpse Clouds' extra head, and a v2 attention model that classifies from RGB alone."""
    from core_models.synth.generate import dataset_clip

    insp = inspect_clip(
        load_model(CHECKPOINTS / name / "model.pt", name), dataset_clip("S001C002P003R001A030")
    )
    assert insp.streams == {} and insp.fusion is None and insp.logits.shape == insp.probs.shape
