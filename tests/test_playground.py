"""The attention playground: its hand-made attention checked by data, and its page through AppTest."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from plotly_arrays import array
from streamlit.testing.v1 import AppTest

from core_models.attention_scores import warp_boxes
from viz import playground as pg
from viz.charts import attention_matrix_figure

ROOT = Path(__file__).parents[1]


def frame(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_soft_attention_sums_to_one_and_tends_to_hard_and_uniform():
    scores = np.random.default_rng(1).random((5, 7))
    w = pg.soft_attention(scores, 0.5)
    assert w.shape == (5, 7) and np.isclose(w.sum(), 1.0) and (w > 0).all()
    assert np.allclose(pg.soft_attention(scores, 1e-4), pg.hard_attention(scores), atol=1e-6)
    assert np.allclose(pg.soft_attention(scores, 1e4), 1 / 35, atol=1e-5)
    # ordering follows the scores
    assert np.argmax(w) == np.argmax(scores)


def test_hard_attention_is_one_hot_at_argmax():
    scores = np.zeros((4, 4))
    scores[2, 3] = 5.0
    h = pg.hard_attention(scores)
    assert h.sum() == 1.0 and h[2, 3] == 1.0
    with pytest.raises(ValueError, match=r"\(h, w\)"):
        pg.hard_attention(np.zeros(4))


@pytest.mark.parametrize("query", pg.SCORE_SOURCES)
def test_attention_scores_are_per_cell_in_unit_range(query):
    f = frame()
    s = pg.attention_scores(f, query, grid=6, previous=frame(seed=1))
    assert s.shape == (6, 6) and s.min() == 0.0 and np.isclose(s.max(), 1.0)


def test_attention_scores_explain_themselves():
    f = np.zeros((60, 60, 3), np.uint8)
    moved = f.copy()
    moved[40:50, 10:20] = 255  # a bright patch appears in cell (row 2, column 0) of a 3x3 grid
    assert np.argwhere(pg.attention_scores(moved, "motion", grid=3, previous=f) == 1).tolist() == [[2, 0]]
    assert np.argwhere(pg.attention_scores(moved, "saliency", grid=3) == 1).tolist() == [[2, 0]]
    pos = pg.attention_scores(f, "position", grid=5, point=(0.9, 0.1))
    assert np.unravel_index(np.argmax(pos), pos.shape) == (0, 4)
    assert not pg.attention_scores(f, "motion", grid=3).any()  # no previous frame: no motion


def test_attend_frame_soft_and_hard():
    f = np.full((40, 40, 3), 200, np.uint8)
    w = np.array([[1.0, 0.0], [0.0, 0.0]])
    soft = pg.attend_frame(f, w, "soft")
    assert soft.dtype == np.uint8 and soft.shape == f.shape
    assert soft[5, 5, 0] == 200 and soft[30, 30, 0] == round(200 * pg.DIM)
    hard = pg.attend_frame(f, np.array([[0.1, 0.2], [0.6, 0.1]]), "hard")
    assert hard[30, 10, 1] == 200  # the chosen cell (row 1, column 0) stays bright
    assert hard[10, 30, 1] == round(200 * pg.DIM)  # others dimmed
    assert np.allclose(pg.glimpse_of(f, w), 200.0)


def test_identity_theta_covers_the_image_and_warps_to_itself():
    theta = pg.theta_from(1.0, 0.0, 0.0, 0.0)
    assert np.allclose(theta, [[1, 0, 0], [0, 1, 0]])
    assert np.allclose(pg.affine_grid_box(theta, (48, 64)), [[0, 0], [64, 0], [64, 48], [0, 48]])
    f = frame()
    assert np.abs(pg.warp(f, theta).astype(int) - f).max() <= 1


def test_half_scale_theta_samples_the_centred_half():
    theta = pg.theta_from(0.5, 0.0, 0.0, 0.0)
    assert np.allclose(pg.affine_grid_box(theta, (48, 64)), [[16, 12], [48, 12], [48, 36], [16, 36]])
    # a shift by 0.5 moves the box a quarter of the width to the right
    box = pg.affine_grid_box(pg.theta_from(0.5, 0.0, 0.5, 0.0), (48, 64))
    assert np.allclose(box[:, 0], [32, 64, 64, 32])
    # zooming 2x on a constant-colour centre: the output is that colour
    f = np.zeros((48, 64, 3), np.uint8)
    f[12:36, 16:48] = 90
    assert (pg.warp(f, theta)[2:-2, 2:-2] == 90).all()


def test_rotation_turns_the_box_and_draw_grid_keeps_the_frame():
    box = pg.affine_grid_box(pg.theta_from(0.5, 90.0, 0.0, 0.0), (40, 40))
    assert np.allclose(box[0], [30, 10])  # the output's top-left reads the input's top-right
    f = frame()
    g = pg.draw_grid(f, pg.theta_from(0.5, 30.0, 0.1, 0.0), lines=4)
    assert g.shape == f.shape and g.dtype == np.uint8 and (g != f).any()
    assert pg.warp(f, pg.theta_from(0.5, 0.0, 0.0, 0.0), out_size=(10, 20)).shape == (10, 20, 3)


def test_frame_features_are_fixed_and_scaled():
    frames = np.stack([frame(seed=s) for s in range(6)])
    a, b = pg.frame_features(frames, dim=16), pg.frame_features(frames, dim=16)
    assert a.shape == (6, 16) and np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 4.0)


def test_dot_product_attention_matches_torch_and_its_limits():
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((7, 16)), rng.standard_normal((9, 16))
    w = pg.dot_product_attention(q, k, 1.0)
    assert w.shape == (7, 9) and np.allclose(w.sum(axis=1), 1.0)
    qt, kt = torch.from_numpy(q)[None], torch.from_numpy(k)[None]
    ref = F.scaled_dot_product_attention(qt, kt, torch.eye(9, dtype=torch.float64)[None])[0].numpy()
    assert np.allclose(w, ref, atol=1e-10)
    cold = pg.dot_product_attention(q, k, 1e-4)
    assert np.allclose(cold, np.eye(9)[np.argmax(q @ k.T, axis=1)], atol=1e-6)
    assert np.allclose(pg.dot_product_attention(q, k, 1e5), 1 / 9, atol=1e-4)
    assert list(pg.top_frames(w[0], 3)) == list(np.argsort(-w[0])[:3])


def test_figures_carry_their_data():
    w = pg.soft_attention(np.random.default_rng(0).random((4, 4)), 0.3)
    assert np.allclose(pg.weight_grid_figure(w).data[0].z, w)
    m = pg.dot_product_attention(np.eye(5), np.eye(5))
    assert np.allclose(attention_matrix_figure(m, 2).data[0].z, m)
    assert np.allclose(pg.attention_row_figure(m[2], 2).data[0].y, m[2])


def test_playground_page_renders_and_follows_its_sliders():
    at = AppTest.from_file(str(ROOT / "pages/playground.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    assert len(at.get("image")) >= 4
    assert len(at.get("plotly_chart")) == 4
    at.slider(key="pg_temperature").set_value(1.5).run()
    assert not at.exception, at.exception
    at.slider(key="pg_scale").set_value(0.3).run()
    at.slider(key="pg_query").set_value(5).run()
    at.selectbox(key="pg_source").set_value("position").run()
    assert not at.exception, at.exception
    assert at.slider(key="pg_px").value == 0.5
    at.session_state["clip_source"] = {"kind": "synthetic", "name": "S001C001P001R001A010"}  # the sidebar's
    at.run()
    assert not at.exception, at.exception
    assert len(at.get("image")) >= 4 and "S001C001P001R001A010" in at.caption[0].value


def test_the_default_temperature_shows_soft_and_hard_attention_apart():
    at = AppTest.from_file(str(ROOT / "pages/playground.py"), default_timeout=120).run()
    soft, hard = _z(at, 0), _z(at, 1)  # the soft and the hard weight grids
    assert hard.max() == 1.0 and pg.effective_cells(hard) == pytest.approx(1.0)
    # spread over a handful of cells, far from one-hot and far from uniform
    assert soft.max() < 0.6 and 4 <= pg.effective_cells(soft) <= soft.size / 2
    assert any("Soft attention is spread over" in c.value for c in at.caption)
    assert pg.effective_cells(np.full((4, 4), 1 / 16)) == pytest.approx(16)


def _z(at, i: int) -> np.ndarray:
    import json

    return array(json.loads(at.get("plotly_chart")[i].proto.spec)["data"][0]["z"], np.float64)


def test_learned_grids_summarise_the_boxes_and_refuse_bad_ones():
    boxes = np.array([[-1.0, 1.0, -0.8, 0.9], [-1.0, 1.0, -0.82, 0.86]])
    out = warp_boxes(boxes)
    assert out["clips"] == 2
    np.testing.assert_allclose(out["mean"], [-1.0, 1.0, -0.81, 0.88])
    np.testing.assert_allclose(out["spread"], [0.0, 0.0, 0.01, 0.02])
    assert out["area"] == pytest.approx(((1.7 + 1.68) / 2) / 2)  # width 2 x mean height / 4
    assert warp_boxes(np.array([[-1.0, 1.0, -1.0, 1.0]]))["area"] == 1.0  # the identity
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        warp_boxes(np.zeros((0, 4)))


def test_the_playground_says_what_the_shipped_stn_learnt():
    """The caption is computed from the shipped checkpoint's test predictions."""
    import pandas as pd

    boxes = np.stack(pd.read_parquet(ROOT / "checkpoints/stn-cs/eval/test/predictions.parquet")["grid_box"])
    at = AppTest.from_file(str(ROOT / "pages/playground.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    text = next(c.value for c in at.caption if "shipped `stn-cs`" in c.value)
    assert f"{len(boxes)} test clips" in text
    assert f"y {boxes[:, 2].mean():+.2f}..{boxes[:, 3].mean():+.2f}" in text
