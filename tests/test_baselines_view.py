"""The clip page's view of the two baselines with an attention of their own: the spatial
transformer's warp (outline, area, spread over the test split) and self-attention's received
weights (share on the truth interval beside its baselines), checked by data and through AppTest
on the shipped checkpoints against the model run directly."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from plotly_arrays import array
from streamlit.testing.v1 import AppTest

from app_support.sources import load_source
from core_models.attention_scores import (
    grid_box,
    received_scores,
    received_weights,
    temporal_scores,
    warp_boxes,
)
from core_models.inspect import Inspection, inspect_clip, load_model
from viz.baselines import (
    VIEW_COLOUR,
    WARP_COLOUR,
    draw_warp,
    matrix_figure,
    nonlocal_sentence,
    received_sentences,
    warp_outline,
    warp_sentence,
)
from viz.charts import frame_steps

ROOT = Path(__file__).parents[1]
CHECKPOINTS = ROOT / "checkpoints"
CLIP = {"kind": "synthetic", "name": "S001C001P003R001A005"}
STN, SELF = "stn-cs", "self_attention-cs"
needs_shipped = pytest.mark.skipif(
    not all((CHECKPOINTS / n / "eval" / "test" / "predictions.parquet").is_file() for n in (STN, SELF)),
    reason="no shipped evaluation of stn-cs and self_attention-cs",
)


def affine(theta: list[list[float]], size: int = 8) -> np.ndarray:
    """The (S, S, 2) grid the model's transformer builds for ``theta``, clamped as it clamps."""
    t = torch.tensor([theta], dtype=torch.float32)
    return F.affine_grid(t, [1, 1, size, size], align_corners=False)[0].clamp(-1, 1).numpy()


IDENTITY = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
HALF_RIGHT = [[0.5, 0.0, 0.2], [0.0, 0.5, 0.0]]  # half the side, shifted right by 0.2 half-sides


# --- the warp --------------------------------------------------------------------------------------


def test_warp_outline_maps_the_grid_through_the_view_box():
    box = [10.0, 20.0, 50.0, 60.0]
    out = warp_outline(affine(IDENTITY), box)
    assert np.allclose(out.min(0), [10, 20]) and np.allclose(out.max(0), [50, 60])  # the box itself
    out = warp_outline(affine(HALF_RIGHT), [0, 0, 40, 40])
    # x from -0.3 to 0.7 of the box, y from -0.5 to 0.5
    assert np.allclose(out.min(0), [14, 10], atol=1e-4) and np.allclose(out.max(0), [34, 30], atol=1e-4)
    zoomed_out = warp_outline(affine([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0]]), box)  # clamped to the input
    assert np.allclose(zoomed_out.min(0), [10, 20]) and np.allclose(zoomed_out.max(0), [50, 60])
    with pytest.raises(ValueError, match=r"\(H', W', 2\)"):
        warp_outline(np.zeros((8, 8)), box)


def test_draw_warp_outlines_the_view_box_and_the_part_read():
    frames = np.zeros((2, 50, 50, 3), np.uint8)
    boxes = np.tile([5.0, 5.0, 45.0, 45.0], (2, 1))
    out = draw_warp(frames, affine(HALF_RIGHT), boxes)
    assert tuple(out[0, 25, 5]) == VIEW_COLOUR  # the view box's left edge
    assert tuple(out[1, 25, 19]) == WARP_COLOUR  # the warp's left edge: 5 + 0.35 * 40
    assert not out[0, 25, 25].any()  # inside, nothing drawn
    assert not frames.any()  # the input is left as it was
    with pytest.raises(ValueError, match=r"view_boxes \(T, 4\)"):
        draw_warp(frames, affine(HALF_RIGHT), boxes[:1])


def test_warp_boxes_area_centre_and_spread():
    ident = warp_boxes(np.array([grid_box(affine(IDENTITY, 48))]), 48)
    assert ident["area"] == pytest.approx(1.0) and ident["centre"] == pytest.approx(0.0, abs=1e-6)
    half = warp_boxes(np.array([grid_box(affine(HALF_RIGHT, 48))]), 48)
    assert half["area"] == pytest.approx(0.25, rel=1e-4) and half["centre"] == pytest.approx(0.2, abs=1e-5)
    both = warp_boxes(np.array([grid_box(affine(IDENTITY, 48)), grid_box(affine(HALF_RIGHT, 48))]), 48)
    assert both["clips"] == 2 and both["area"] == pytest.approx(0.625, rel=1e-4)
    assert both["edge_sd"] == pytest.approx(np.std([-1 + 1 / 48, -0.3 + 0.5 / 48]), rel=1e-4)  # left edge
    same = warp_boxes(np.array([grid_box(affine(HALF_RIGHT))] * 3), 8)
    assert same["edge_sd"] == 0.0
    with pytest.raises(ValueError, match="size"):
        warp_boxes(np.zeros((1, 4)), 1)


def test_warp_sentence_names_a_fixed_crop_only_when_the_warp_does_not_move():
    here = {"area": 0.85, "centre": 0.03}
    fixed = warp_sentence(here, {"clips": 588, "area": 0.85, "edge_sd": 0.013}, person_crop=True)
    assert "**0.85**" in fixed and "the person crop" in fixed and "identity warp, no attention: 1.00" in fixed
    assert "588 clips" in fixed and "one crop for every clip" in fixed and "not measured" in fixed
    checks = {
        "interventions": {
            "uniform": {"top1": 0.41},
            "swap_same": {"top1": 0.44},
            "swap_other": {"top1": 0.43},
        }
    }
    worth = warp_sentence(here, None, True, {"top1": 0.449, "attention_checks": checks})
    assert "**0.449** with its own warps, 0.410 through the identity" in worth and "not measured" not in worth
    assert "0.430 through another class's clip's warp, 0.440 through a same-class clip's" in worth
    moving = warp_sentence(here, {"clips": 588, "area": 0.6, "edge_sd": 0.2}, person_crop=False)
    assert "one crop for every clip" not in moving and "the centred square" in moving
    assert "test split" not in warp_sentence(here, None, True)


# --- self-attention ---------------------------------------------------------------------------------


def test_received_weights_are_column_means_and_score_like_a_temporal_attention():
    rng = np.random.default_rng(0)
    w = rng.random((4, 6, 6))
    w /= w.sum(-1, keepdims=True)  # rows sum to one, as softmax rows do
    got = received_weights(w)
    assert got.sum() == pytest.approx(1.0) and np.allclose(got, w.mean(0).mean(0))
    with pytest.raises(ValueError, match=r"\(heads, T, T\)"):
        received_weights(np.zeros((2, 3, 4)))
    # every step reads from step 4 alone: the interval over the 5th and 6th sixths holds all of it
    onto4 = np.zeros((2, 6, 6))
    onto4[:, :, 4] = 1.0
    sc = received_scores(onto4, np.array([[4 / 6, 1.0], [0.0, 0.5]]))
    assert sc["clips"] == 2 and sc["share"] == pytest.approx(0.5)  # 1 on the first clip, 0 on the second
    ref = [temporal_scores(np.eye(6)[4], iv) for iv in ((4 / 6, 1.0), (0.0, 0.5))]
    assert sc["uniform"] == pytest.approx(np.mean([r["uniform"] for r in ref]))
    fig = matrix_figure(w, np.arange(6) * 10)
    assert np.asarray(fig.data[0].z).shape == (6, 6)


def test_received_sentences_put_each_share_beside_its_baselines():
    here = {"share": 0.56, "uniform": 0.31, "middle": 0.0, "best": 1.0}
    split = {"share": 0.32, "uniform": 0.33, "middle": 0.34, "best": 1.0, "clips": 588}
    lines = received_sentences(here, (59, 87), split, 16)
    assert "frames 59–86" in lines[0] and "**0.56**" in lines[0]
    assert "equal weights would give 0.31" in lines[0]
    assert "588 clips" in lines[1] and "**0.32**" in lines[1] and "always the middle 0.34" in lines[1]
    assert received_sentences(None, None, split, 16) == lines[1:]


# --- the clip page -----------------------------------------------------------------------------------


@cache
def reference(model: str) -> Inspection:
    return inspect_clip(load_model(CHECKPOINTS / model / "model.pt", model), load_source(CLIP))


def clip_page(model: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "clip.py"), default_timeout=120)
    at.session_state["clip_source"] = CLIP
    at.session_state["model_name"] = model
    return at.run()


@needs_shipped
def test_clip_page_says_where_the_stn_reads_and_that_it_is_one_crop():
    at = clip_page(STN)
    assert not at.exception, at.exception
    text = next(m.value for m in at.markdown if "Where the spatial transformer reads" in m.value)
    grid = reference(STN).attention["grid"]
    here = warp_boxes(np.array([grid_box(grid)]), grid.shape[0])
    table = pd.read_parquet(CHECKPOINTS / STN / "eval" / "test" / "predictions.parquet")
    split = warp_boxes(np.stack(table["grid_box"].to_numpy()), grid.shape[0])
    assert (
        warp_sentence(
            here, split, True, json.loads((CHECKPOINTS / STN / "eval/test/metrics.json").read_text())
        )
        == text
    )
    assert f"({len(table)} clips)" in text and "one crop for every clip" in text  # the shipped STN's
    assert not any("receives" in m.value for m in at.markdown)


@needs_shipped
def test_clip_page_scores_self_attention_against_the_truth_and_its_baselines():
    at = clip_page(SELF)
    assert not at.exception, at.exception
    insp = reference(SELF)
    clip = load_source(CLIP)
    start, end = clip.truth.interval
    received = received_weights(insp.attention["self"])
    here = temporal_scores(received, (start / clip.num_frames, end / clip.num_frames))
    table = pd.read_parquet(CHECKPOINTS / SELF / "eval" / "test" / "predictions.parquet")
    mats = np.stack([np.stack(m) for m in table["self_attention"]])
    split = received_scores(mats, np.stack(table["truth_interval"].to_numpy()))
    shown = [m.value for m in at.markdown]
    for line in received_sentences(here, (start, end), split, len(received)):
        assert line in shown
    assert any("all of it uniform" in m for m in shown)  # what the attention is worth, from the interventions
    charts = [json.loads(c.proto.spec)["data"] for c in at.get("plotly_chart")]
    assert len(charts) == 2  # the received weights along the clip, and the matrix
    (curve,) = [d for d in charts[0] if d.get("name") == "weight received"]
    steps = frame_steps(clip.num_frames, len(received))
    assert np.allclose(array(curve["y"])[:-1], received[steps], atol=1e-6)
    assert np.allclose(array(charts[1][0]["z"]), insp.attention["self"].mean(0), atol=1e-6)
    assert not any("spatial transformer" in m for m in shown)


@needs_shipped
def test_clip_page_of_a_model_without_either_shows_neither():
    at = clip_page("i3d-cs")
    assert not at.exception, at.exception
    assert not any("spatial transformer" in m.value or "receives" in m.value for m in at.markdown)
    assert not any("Non-local blocks" in m.value for m in at.markdown)


def test_nonlocal_sentence_names_each_block_and_how_even_its_rows_are():
    even = np.full((64, 16), 1 / 16)
    peaked = np.zeros((8, 2))
    peaked[:, 0] = 1.0  # every position weighs one other
    text = nonlocal_sentence({"Mixed_4b": even, "Mixed_5c": peaked})
    assert text.startswith("**Non-local blocks** (2):")
    assert "Mixed_4b 64 x 16 (1.00)" in text and "Mixed_5c 8 x 2 (0.00)" in text
    with pytest.raises(ValueError, match="no non-local affinities"):
        nonlocal_sentence({})
    with pytest.raises(ValueError, match=r"must be \(N, M\)"):
        nonlocal_sentence({"Mixed_4b": np.ones(4)})


NONLOCAL = "i3d_nl-cs"


@pytest.mark.skipif(
    not (CHECKPOINTS / NONLOCAL / "eval" / "test" / "metrics.json").is_file(), reason="no shipped i3d_nl-cs"
)
def test_clip_page_says_what_the_nonlocal_blocks_are_and_what_they_are_worth():
    at = clip_page(NONLOCAL)
    assert not at.exception, at.exception
    shown = [m.value for m in at.markdown]
    insp = reference(NONLOCAL)
    blocks = {f"Mixed_{b}" for b in ("4b", "4c", "4d", "4e", "4f", "5b", "5c")}
    assert set(insp.attention["nonlocal"]) == blocks
    assert nonlocal_sentence(insp.attention["nonlocal"]) in shown
    metrics = json.loads((CHECKPOINTS / NONLOCAL / "eval/test/metrics.json").read_text())
    inter = metrics["attention_checks"]["interventions"]
    worth = next(m for m in shown if m.startswith("Over its test split"))
    assert f"all of it uniform {inter['uniform']['top1']:.3f}" in worth
    assert "nonlocal:" not in worth  # the blocks one by one stay in the metrics, not the sentence
