"""Attributions (core_models.explain): known answers, every method on shipped checkpoints, agreement,
faithfulness curves, ground truth, the results store and the CLI."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from core_models import explain as ex
from core_models.data.crops import CropSpec
from core_models.data.datasets import InputSpec
from core_models.data.layouts import NTU25
from core_models.explain import attribution as attr
from core_models.explain import faithfulness as faith
from core_models.inspect import Inspection, LoadedModel, inspect_clip, load_model
from core_models.models.output import ModelOutput

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"
CLIP = "S001C002P003R001A002"  # eat meal: the left hand carries the action
FAST = dict(steps=4, internal_batch_size=8, window_frames=8, window_pixels=16)


@pytest.fixture(scope="module")
def clip():
    from core_models.synth.generate import dataset_clip

    return dataset_clip(CLIP)


@pytest.fixture(scope="module")
def shipped():
    cache: dict[str, LoadedModel] = {}

    def get(name: str) -> LoadedModel:
        if name not in cache:
            cache[name] = load_model(CHECKPOINTS / name / "model.pt", name)
        return cache[name]

    return get


# ---------------------------------------------------------------------------------------------
# models whose answer is known: the score is a sum of squares of one part of the input, so every
# attribution outside that part is exactly zero and zeroing the part removes the evidence.


@dataclass(frozen=True)
class _Config:
    num_joints: int = 25


def _scores(s: torch.Tensor) -> torch.Tensor:
    """(B,) evidence -> logits (B, 3): class 0 grows with it, class 2 falls."""
    return s[:, None] * torch.tensor([1.0, 0.0, -1.0], device=s.device)


class LeftHandModel(nn.Module):
    """Reads the skeleton; only the left hand's joints count."""

    inputs = ("skeleton",)
    attention_kinds = ()

    def __init__(self):
        super().__init__()
        self.config = _Config()
        self.input_spec = InputSpec(num_frames=0, skeleton_frames=20, num_persons=2)
        self.scale = nn.Parameter(torch.tensor(1.0))
        self.joints = list(NTU25.part("left_hand").joints)

    def forward(self, batch):
        hand = batch["skeleton"][:, :, :, self.joints]  # (B, Ts, M, 4, 3)
        return ModelOutput(logits=_scores(self.scale * hand.pow(2).sum((1, 2, 3, 4))))


class RightHandCropModel(nn.Module):
    """One conv stream per crop (like P-I3D) and a skeleton input, but only the right hand's crop counts."""

    inputs = ("crops", "skeleton")
    attention_kinds = ()

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.config = _Config()
        parts = ("left_hand", "right_hand", "full_body")
        self.input_spec = InputSpec(
            num_frames=4, frame_size=16, crops=CropSpec(parts=parts, size=16), skeleton_frames=20
        )
        self.parts = nn.ModuleDict(
            {p: nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.ReLU()) for p in parts}
        )

    def forward(self, batch):
        crops = batch["crops"]  # (B, P, 3, T, C, C)
        feats = [stream(crops[:, p]) for p, stream in enumerate(self.parts.values())]
        s = feats[1].pow(2).mean((1, 2, 3, 4)) * 100 + 0 * batch["skeleton"].sum((1, 2, 3, 4))
        return ModelOutput(logits=_scores(s))


class WindowModel(nn.Module):
    """Reads 8 RGB frames through a conv; only frames 5 and 6 (segments 5 and 6 of 8) count."""

    inputs = ("rgb",)
    attention_kinds = ()

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.config = _Config()
        self.input_spec = InputSpec(num_frames=8, frame_size=16, skeleton_frames=0)
        self.conv = nn.Conv3d(3, 4, (1, 3, 3), padding=(0, 1, 1))

    def forward(self, batch):
        feat = torch.relu(self.conv(batch["rgb"]))  # (B, 4, T, S, S)
        return ModelOutput(logits=_scores(feat[:, :, 5:7].pow(2).mean((1, 2, 3, 4)) * 100))


def _loaded(model: nn.Module) -> LoadedModel:
    return LoadedModel(type(model).__name__, model.eval(), ["a", "b", "c"], {})


def _top(parts: dict[str, float]) -> str:
    return max(parts, key=parts.get)


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "occlusion"])
def test_skeleton_attribution_finds_the_one_part_that_counts(clip, method):
    expl = ex.explain(_loaded(LeftHandModel()), clip, ex.ExplainSettings(method, **FAST))
    assert expl.parts_source == "skeleton" and _top(expl.parts) == "left_hand"
    assert expl.parts["left_hand"] == pytest.approx(1.0)
    assert expl.joints.shape == (25,) and expl.joints.sum() == pytest.approx(1.0)
    assert set(np.flatnonzero(expl.joints)) <= set(NTU25.part("left_hand").joints)
    assert expl.frames is None and expl.pixels is None and expl.target == 0


def test_settings_are_checked_and_the_label_can_be_the_target(clip):
    with pytest.raises(ValueError, match="unknown method"):
        ex.ExplainSettings("lime")
    with pytest.raises(ValueError, match="steps"):
        ex.ExplainSettings("integrated_gradients", steps=0)
    expl = ex.explain(_loaded(LeftHandModel()), clip, ex.ExplainSettings("saliency", target="label"))
    assert expl.target == clip.label == 1 and expl.target_name == "b"


def test_grad_cam_without_a_feature_map_says_which_methods_work(clip):
    with pytest.raises(ValueError, match="Grad-CAM needs.*integrated_gradients"):
        ex.explain(_loaded(LeftHandModel()), clip, ex.ExplainSettings("grad_cam"))


@pytest.mark.parametrize("method", ["integrated_gradients", "saliency", "occlusion", "grad_cam"])
def test_crop_attribution_finds_the_one_crop_that_counts(clip, method):
    expl = ex.explain(_loaded(RightHandCropModel()), clip, ex.ExplainSettings(method, **FAST))
    assert expl.parts_source == "crops" and list(expl.parts) == ["left_hand", "right_hand", "full_body"]
    assert _top(expl.parts) == "right_hand" and expl.parts["right_hand"] == pytest.approx(1.0)
    assert expl.pixels.shape == (4, 16, 16)  # the full-body crop's map
    if method != "grad_cam":  # the unused skeleton gets nothing, even from occlusion's windows
        assert expl.inputs["skeleton"] < 1e-5  # (batched float sums differ in the last bits)


@pytest.mark.parametrize("method", ["integrated_gradients", "segment_ablation", "occlusion", "saliency"])
def test_temporal_attribution_finds_the_frames_that_count(clip, method):
    settings = ex.ExplainSettings(method, **dict(FAST, window_frames=1))
    expl = ex.explain(_loaded(WindowModel()), clip, settings)
    assert expl.segments.shape == (8,) and expl.segments.sum() == pytest.approx(1.0)
    assert expl.segments[5:7].sum() > 0.99
    assert expl.frames.shape == (8,) and expl.frames[5:7].sum() > 0.99


def test_grad_cam_equals_captums_layer_grad_cam(clip):
    from captum.attr import LayerGradCam

    loaded = _loaded(WindowModel())
    inputs = attr._prepare(loaded, clip)
    first = attr._grad_cam(inputs, 0, attr._Counter(1, None))  # searches the layer in its one pass
    assert [layer.name for layer in first.layers] == ["conv"]
    theirs = LayerGradCam(inputs.forward(), loaded.model.conv).attribute(
        inputs.tensors, target=0, relu_attributions=True
    )  # (1, 1, T', H', W')
    again = attr._grad_cam(inputs, 0, attr._Counter(1, None))  # the remembered layer, hooked alone
    for cams in (first, again):
        np.testing.assert_allclose(cams.cams["rgb"], theirs[0, 0].detach().numpy(), rtol=1e-5, atol=1e-7)
    assert all(p.requires_grad for p in loaded.model.parameters())  # frozen for the pass only


def test_grad_cam_runs_the_model_once_and_finds_its_layers_once(clip):
    loaded = _loaded(TwoHandsCropModel())
    calls = []
    loaded.model.register_forward_pre_hook(lambda module, args: calls.append(1))
    settings = ex.ExplainSettings("grad_cam")
    first = ex.explain(loaded, clip, settings)  # layer search, target and gradients in one pass
    assert len(calls) == 1
    second = ex.explain(loaded, clip, settings)
    assert len(calls) == 2
    assert first.target == second.target == 0
    for part in ("left_hand", "right_hand", "full_body"):
        np.testing.assert_allclose(first.maps[part], second.maps[part], rtol=1e-5, atol=1e-7)


# ---------------------------------------------------------------------------------------------
# why X and not Y: attribution of the difference of two classes' scores


class TwoHandsCropModel(nn.Module):
    """Class 0 reads the left hand's crop, class 1 the right hand's; class 2 is a constant."""

    inputs = ("crops",)
    attention_kinds = ()

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.config = _Config()
        parts = ("left_hand", "right_hand", "full_body")
        self.input_spec = InputSpec(num_frames=4, frame_size=16, crops=CropSpec(parts=parts, size=16))
        self.parts = nn.ModuleDict(
            {p: nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.ReLU()) for p in parts}
        )

    def forward(self, batch):
        crops = batch["crops"]  # (B, P, 3, T, C, C)
        feats = [stream(crops[:, p]) for p, stream in enumerate(self.parts.values())]
        left, right = (feats[i].pow(2).mean((1, 2, 3, 4)) for i in (0, 1))
        return ModelOutput(logits=torch.stack([1000 * left, right, torch.zeros_like(left)], dim=1))


def test_why_the_prediction_and_not_the_label_is_the_difference_of_their_attributions(clip):
    loaded = _loaded(TwoHandsCropModel())
    assert clip.label == 1  # "b", read from the right hand; the model predicts "a" (left hand)
    run = dict(method="integrated_gradients", steps=8)
    alone = ex.explain(loaded, clip, ex.ExplainSettings(**run))
    truth = ex.explain(loaded, clip, ex.ExplainSettings(**run, target="label"))
    contrast = ex.explain(loaded, clip, ex.ExplainSettings(**run, versus="label"))
    assert (alone.target, truth.target, contrast.target, contrast.versus) == (0, 1, 0, 1)
    assert contrast.question == "a and not b" and alone.versus is None and alone.question == "a"
    # each alone reads its own hand; the contrast reads both, for and against
    assert _top(alone.parts) == "left_hand" and _top(truth.parts) == "right_hand"
    assert contrast.maps["left_hand"].sum() > 0 > contrast.maps["right_hand"].sum()
    assert abs(contrast.maps["full_body"]).max() < 1e-6
    # Integrated Gradients is linear in the function: attribution(a - b) = attribution(a) - attribution(b)
    for part in ("left_hand", "right_hand"):
        np.testing.assert_allclose(
            contrast.maps[part], alone.maps[part] - truth.maps[part], rtol=1e-4, atol=1e-6
        )
    # the views are the crops the model read, uint8, beside their maps
    assert (
        contrast.views["left_hand"].shape == (4, 16, 16, 3) and contrast.views["left_hand"].dtype == np.uint8
    )
    assert contrast.maps["left_hand"].shape == (4, 16, 16)


def test_contrastive_grad_cam_is_signed_and_the_rival_is_the_runner_up(clip):
    loaded = _loaded(TwoHandsCropModel())
    cam = ex.explain(loaded, clip, ex.ExplainSettings("grad_cam", versus="label"))
    assert cam.target == 0 and cam.versus == 1
    assert cam.maps["left_hand"].min() >= 0 and cam.maps["left_hand"].max() > 0
    assert cam.maps["right_hand"].max() <= 0 and cam.maps["right_hand"].min() < 0
    with torch.no_grad():
        logits = attr._prepare(loaded, clip).forward()(*attr._prepare(loaded, clip).tensors)[0]
    runner_up = int(torch.argsort(logits, descending=True)[1])
    for method in ("saliency", "grad_cam"):
        rival = ex.explain(loaded, clip, ex.ExplainSettings(method, versus="rival"))
        assert rival.target == 0 and rival.versus == runner_up
        alone = ex.explain(loaded, clip, ex.ExplainSettings(method, target="rival"))
        assert alone.target == runner_up and alone.versus is None
    with pytest.raises(ValueError, match="rival is explained alone"):
        ex.ExplainSettings("saliency", target="rival", versus="label")
    with pytest.raises(ValueError, match="nothing to contrast"):  # the label explained against itself
        ex.ExplainSettings("saliency", target="label", versus="label")
    with pytest.raises(ValueError, match="versus"):
        ex.ExplainSettings("saliency", versus="truth")


def test_deleting_the_part_that_counts_first_is_the_faithful_order(clip):
    loaded = _loaded(LeftHandModel())
    expl = ex.explain(loaded, clip, ex.ExplainSettings("saliency"))
    best = ex.importance_order(expl, "parts")
    assert list(expl.parts)[best[0]] == "left_hand"
    worst = np.concatenate([best[1:], best[:1]])  # the same parts, the left hand last
    good = ex.deletion_insertion(loaded, clip, best, "parts", expl.target)
    bad = ex.deletion_insertion(loaded, clip, worst, "parts", expl.target)
    assert good.units[0] == "left_hand" and bad.units[-1] == "left_hand"
    assert good.fractions.shape == good.deletion.shape == good.insertion.shape == (len(expl.parts) + 1,)
    assert good.deletion[0] == pytest.approx(good.insertion[-1])  # nothing removed = all put back
    assert good.deletion[-1] == pytest.approx(good.insertion[0])  # everything removed = blank
    assert good.auc_deletion < bad.auc_deletion - 0.3
    assert good.auc_insertion > bad.auc_insertion + 0.3


def test_segment_curves_on_the_window_model(clip):
    loaded = _loaded(WindowModel())
    expl = ex.explain(loaded, clip, ex.ExplainSettings("segment_ablation"))
    order = ex.importance_order(expl, "segments")
    assert set(order[:2]) == {5, 6}
    good = ex.deletion_insertion(loaded, clip, order, "segments", expl.target)
    bad = ex.deletion_insertion(loaded, clip, order[::-1], "segments", expl.target)
    assert good.auc_deletion < bad.auc_deletion and good.auc_insertion > bad.auc_insertion
    with pytest.raises(ValueError, match="permutation"):
        ex.deletion_insertion(loaded, clip, [0, 0, 1], "segments", 0)


def test_truth_scores_on_a_synthetic_clip(clip):
    expl = ex.explain(_loaded(LeftHandModel()), clip, ex.ExplainSettings("integrated_gradients", steps=4))
    scores = ex.truth_scores(clip, expl)
    assert clip.truth.active_parts() == ("left_hand",)
    assert scores["parts_truth_share"] == pytest.approx(1.0)
    assert 0 <= scores["interval_truth_share"] <= 1 and 0 < scores["interval_fraction"] < 1
    assert ex.truth_scores(clip.__class__(clip.name, clip.layout, 0, "x"), expl) == {}


# ---------------------------------------------------------------------------------------------
# agreement


def _inspection(attention: dict, part_names=()) -> Inspection:
    return Inspection(
        clip="c", model="m", class_names=["a"], label=None, probs=np.ones(1), attention=attention, streams={},
        frame_index=None, skeleton_index=None, view_boxes=None, part_boxes=None, part_names=tuple(part_names),
        seconds=0.0,
    )  # fmt: skip


def _explanation(parts=None, segments=None, pixels=None) -> ex.Explanation:
    return ex.Explanation(
        method="saliency", settings=ex.ExplainSettings("saliency"), target=0, target_name="a", frames=None,
        pixels=pixels, joints=None, parts=parts or {}, parts_source="crops" if parts else "",
        segments=np.full(8, 1 / 8) if segments is None else segments, frame_index=None, skeleton_index=None,
        seconds=0.0,
    )  # fmt: skip


def test_agreement_is_one_when_the_orders_match_and_minus_one_when_reversed():
    rng = np.random.default_rng(0)
    temporal = rng.dirichlet(np.ones(8))
    spatial = rng.dirichlet(np.ones(4)).reshape(2, 2)
    pixels = np.kron(spatial, np.ones((4, 4)))[None].repeat(3, 0)  # (T, 8, 8), same order as the map
    insp = _inspection({"parts": np.array([[0.5, 0.3, 0.2]]), "temporal": temporal, "spatial": spatial},
                       ("left_hand", "right_hand", "full_body"))  # fmt: skip
    same = _explanation({"left_hand": 0.7, "right_hand": 0.2, "full_body": 0.1}, temporal**2, pixels)
    assert ex.agreement(insp, same) == pytest.approx({"parts": 1.0, "temporal": 1.0, "spatial": 1.0})
    reverse = _explanation({"left_hand": 0.1, "right_hand": 0.3, "full_body": 0.6}, -temporal + 1, -pixels)
    assert ex.agreement(insp, reverse) == pytest.approx({"parts": -1.0, "temporal": -1.0, "spatial": -1.0})
    # segment attention at several granularities, on a grid of 12 over the clip
    segs = _inspection({"segments": {2: np.array([0.2, 0.8]), 3: np.array([0.1, 0.3, 0.6])},
                        "granularity": np.array([0.5, 0.5])})  # fmt: skip
    rising = faith._learned_temporal(segs.attention)
    assert np.all(np.diff(rising) >= 0)
    value = ex.agreement(segs, _explanation(segments=np.linspace(0.01, 0.2, 8)))["temporal"]
    assert 0.8 < value <= 1.0
    # nothing to compare: no kind, and never NaN
    assert ex.agreement(_inspection({"temporal": np.full(4, 0.25)}), _explanation()) == {}


def test_spearman_matches_a_hand_computed_value_with_ties():
    assert ex.spearman(np.array([1, 2, 3, 4]), np.array([10, 20, 30, 40])) == pytest.approx(1.0)
    # ranks (1.5, 1.5, 3, 4) vs (1, 2, 3, 4): Pearson of the ranks
    a, b = np.array([1.5, 1.5, 3, 4]), np.array([1, 2, 3, 4.0])
    expected = np.corrcoef(a, b)[0, 1]
    assert ex.spearman(np.array([5, 5, 7, 9]), np.array([0, 1, 2, 3])) == pytest.approx(expected)
    assert np.isnan(ex.spearman(np.ones(3), np.arange(3)))


# ---------------------------------------------------------------------------------------------
# shipped checkpoints


def _check(expl: ex.Explanation, *, frames: int | None, joints: bool) -> None:
    assert expl.segments.shape == (expl.settings.segments,)
    assert expl.segments.min() >= 0 and expl.segments.sum() == pytest.approx(1.0)
    if frames is None:
        assert expl.frames is None
    else:
        assert expl.frames.shape == (frames,) and expl.frames.sum() == pytest.approx(1.0)
        assert len(expl.frame_index) == frames
    if joints:
        assert expl.joints.shape == (25,) and expl.joints.sum() == pytest.approx(1.0)
    if expl.parts:
        assert sum(expl.parts.values()) == pytest.approx(1.0) and min(expl.parts.values()) >= 0
    assert 0 <= expl.target < 14 and expl.seconds > 0


@pytest.mark.parametrize("method", ex.METHODS)
def test_every_method_on_the_skeleton_lstm(shipped, clip, method):
    expl = ex.explain(shipped("skeleton_lstm-cs"), clip, ex.ExplainSettings(method, **FAST))
    uses_joints = method not in ("grad_cam", "segment_ablation")
    _check(expl, frames=None, joints=uses_joints)
    assert expl.parts_source == ("skeleton" if uses_joints else "")
    assert len(expl.skeleton_index) == 20


def test_part_attention_methods_and_agreement(shipped, clip):
    loaded = shipped("part_attention-cs")
    insp = inspect_clip(loaded, clip)
    seen = []
    for method in ("saliency", "grad_cam", "segment_ablation", "integrated_gradients"):
        expl = ex.explain(loaded, clip, ex.ExplainSettings(method, steps=2, internal_batch_size=2),
                          progress=lambda done, total: seen.append((done, total)))  # fmt: skip
        _check(expl, frames=16, joints=method in ("saliency", "integrated_gradients"))
        if method in ("saliency", "grad_cam", "integrated_gradients"):
            assert expl.parts_source == "crops" and list(expl.parts) == list(insp.part_names)
            if "full_body" in insp.part_names:
                assert expl.pixels.shape == (16, 32, 32)  # the full-body crop
            else:  # the cpu preset's two hand crops: no person crop, a map on each hand crop
                assert expl.pixels is None
                assert all(expl.maps[p].shape == (16, 32, 32) for p in insp.part_names)
            agree = ex.agreement(insp, expl)
            # the shipped model weighs parts per step and the steps themselves (attend_time)
            assert set(agree) == {"parts", "temporal"} and all(-1 <= v <= 1 for v in agree.values())
        scores = ex.truth_scores(clip, expl, insp)
        assert 0 <= scores["interval_truth_share"] <= 1 and 0 <= scores["attention_parts_truth_share"] <= 1
    assert seen[-1][0] == seen[-1][1] and all(d <= t for d, t in seen)


def test_separable_sta_occlusion_and_grad_cam(shipped, clip):
    loaded = shipped("separable_sta-cs")
    insp = inspect_clip(loaded, clip)
    settings = ex.ExplainSettings("occlusion", window_frames=8, window_pixels=32)
    cost = ex.estimate_cost(loaded, clip, settings)
    # crops (1, 3, 16, 64, 64) in 2 x 2 x 2 windows; skeleton (20, 2, 25, 3): 3 step windows x 25 joints
    assert cost.passes == 8 + 75 + 1 and cost.seconds > 0 and "Occlusion" in cost.text
    expl = ex.explain(loaded, clip, settings)
    _check(expl, frames=16, joints=True)
    assert expl.parts_source == "skeleton" and expl.pixels.shape == (16, 64, 64)
    cam = ex.explain(loaded, clip, ex.ExplainSettings("grad_cam"))
    assert cam.pixels.shape == (16, 64, 64) and cam.parts == {}
    agree = ex.agreement(insp, cam)
    assert "spatial" in agree and all(-1 <= v <= 1 for v in agree.values())
    curves = ex.deletion_insertion(loaded, clip, ex.importance_order(expl, "parts"), "parts", expl.target)
    assert len(curves.deletion) == len(expl.parts) + 1 and 0 <= curves.auc_deletion <= 1


def test_cost_estimates_count_the_passes(shipped, clip):
    loaded = shipped("skeleton_lstm-cs")
    assert ex.estimate_cost(loaded, clip, ex.ExplainSettings("integrated_gradients", steps=32)).passes == 32
    assert ex.estimate_cost(loaded, clip, ex.ExplainSettings("segment_ablation", segments=6)).passes == 7
    # skeleton (20, 2, 25, 3), 4-step windows: 5 x 25 windows and the unoccluded pass
    assert ex.estimate_cost(loaded, clip, ex.ExplainSettings("occlusion")).passes == 126


# ---------------------------------------------------------------------------------------------
# a run's split into the results store, and the CLI


@pytest.fixture
def run_dir(tmp_path) -> Path:
    run = tmp_path / "skeleton_lstm-cs"
    shutil.copytree(CHECKPOINTS / "skeleton_lstm-cs", run, ignore=shutil.ignore_patterns("explain-*"))
    settings = json.loads((run / "settings.json").read_text())
    settings["root"] = str(tmp_path / "no-dataset-here")  # as in CI: clips are rendered by name
    (run / "settings.json").write_text(json.dumps(settings))
    return run


def test_explain_run_writes_a_complete_table(run_dir):
    from core_models.results import IncompleteRunError

    with pytest.raises(IncompleteRunError):
        ex.read_explain(run_dir, "saliency")
    seen = []
    path = ex.explain_run(run_dir, "saliency", limit=3, progress=lambda d, t: seen.append((d, t)))
    assert path == run_dir / "eval" / "test" / "explain-saliency.parquet"
    assert (path.parent / "explain-saliency.COMPLETE").is_file() and seen[-1] == (3, 3)
    table = ex.read_explain(run_dir, "saliency")
    assert len(table) == 3 and table["clip"].is_unique
    # cross-subject test clips, spread over the split rather than its first names
    from core_models.data.clip import ClipRef
    from core_models.data.ntu import parse_name
    from core_models.synth.generate import synth_reader

    sides = {
        synth_reader(run_dir).side(ClipRef(c, 0, "", None, None, parse_name(c)), "cs") for c in table["clip"]
    }
    assert sides == {"test"} and len({c[:4] for c in table["clip"]}) >= 2  # more than one setup
    columns = ("target", "parts", "segments", "agreement_parts", "auc_deletion_parts",
               "auc_insertion_segments", "parts_truth_share", "interval_truth_share", "seconds")  # fmt: skip
    assert set(columns) <= set(table.columns)
    assert all(abs(sum(s) - 1) < 1e-6 for s in table["segments"])
    assert table["auc_deletion_parts"].between(0, 1).all()


def test_explain_run_prepares_each_clip_once_for_the_same_figures(run_dir, monkeypatch):
    """The inspection, the attribution and both deletion / insertion curves share one
    ``prepare_clip`` per clip (frames, crops, flow: the costly part) and give what four do."""
    import pandas as pd

    from core_models.data import datasets
    from core_models.explain import attribution, faithfulness

    calls, real = [], datasets.prepare_clip
    monkeypatch.setattr(
        datasets, "prepare_clip", lambda clip, spec: calls.append(clip.name) or real(clip, spec)
    )
    ex.explain_run(run_dir, "saliency", limit=2)
    assert len(calls) == 2 and len(set(calls)) == 2
    shared = ex.read_explain(run_dir, "saliency")
    prepare = attribution._prepare  # each pass prepares the clip itself, as before
    monkeypatch.setattr(faithfulness, "_prepare", lambda loaded, clip, prepared=None: prepare(loaded, clip))
    monkeypatch.setattr(attribution, "_prepare", lambda loaded, clip, prepared=None: prepare(loaded, clip))
    calls.clear()
    ex.explain_run(run_dir, "saliency", limit=2)
    assert len(calls) == 2 + 2 * 3  # once more for the inspection, 3 passes of their own
    alone = ex.read_explain(run_dir, "saliency")
    pd.testing.assert_frame_equal(shared.drop(columns="seconds"), alone.drop(columns="seconds"))


def test_cli_explain(run_dir, capsys):
    from core_models.cli import EXPLAIN_METHODS, main

    assert EXPLAIN_METHODS == ex.METHODS
    assert main(["explain", "--run", str(run_dir), "--method", "saliency", "--limit", "2"]) == 0
    assert len(ex.read_explain(run_dir, "saliency")) == 2
    assert "2 clips" in capsys.readouterr().out


def test_bench_sets_grad_cam_against_an_inspection_and_captums_layer_grad_cam(shipped, clip, monkeypatch):
    from core_models import bench

    monkeypatch.setattr(bench, "GRAD_CAM_REPEATS", 1)
    row = bench._grad_cam_against(shipped("separable_sta-cs"), clip)
    assert (
        row["grad_cam_layers"] == 1
        and min(row["inspect_ms"], row["grad_cam_ms"], row["layer_grad_cam_ms"]) > 0
    )
    assert row["grad_cam_x_inspect"] > 0 and row["cpu_grad_cam_x_layer_grad_cam"] > 0
