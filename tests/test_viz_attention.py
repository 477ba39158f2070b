"""Attention views (viz/): figures checked by their data, frames by the pixels the contract names."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pandas as pd
import pytest

from core_models.data.layouts import NTU25
from core_models.data.sampling import segment_bounds
from viz.charts import frame_steps, prediction_caption, topk_figure
from viz.export import csv_bytes, html_bytes, png_bytes, webm_bytes
from viz.glimpses import (
    GLIMPSE_COLOURS,
    assignment_figure,
    draw_glimpses,
    glimpse_boxes,
    glimpse_centres,
    trajectory_figure,
)
from viz.granularity import (
    BEST_ROW_COLOUR,
    BEST_SEGMENT_COLOUR,
    granularity_image,
    granularity_rows,
    granularity_table,
)
from viz.heatmap import HEATMAP_COLORMAP, overlay_heatmap, temporal_curve_figure, upsample_maps
from viz.parts import (
    UNWEIGHTED_COLOUR,
    draw_part_boxes,
    draw_skeleton_parts,
    part_weights_figure,
    part_weights_over_time_figure,
    weight_colour,
)


def _frames(T: int = 4, H: int = 60, W: int = 80, value: int = 30) -> np.ndarray:
    return np.full((T, H, W, 3), value, np.uint8)


def _shapes(fig, kind: str):
    """Layout shapes of one kind: "vline" (x0 == x1, spans y), "hline", "rect"."""
    out = []
    for s in fig.layout.shapes:
        vline = s.type == "line" and s.x0 == s.x1 and s.yref.endswith("domain")
        hline = s.type == "line" and s.y0 == s.y1 and s.xref.endswith("domain")
        if {"rect": s.type == "rect", "vline": vline, "hline": hline}[kind]:
            out.append(s)
    return out


# --- charts ---------------------------------------------------------------------------------------


def test_prediction_caption_exact():
    assert (
        prediction_caption("Background", "Background", 0.8251)
        == "Groundtruth: Background - Prediction: Background (0.825)"
    )
    caption = prediction_caption(None, "drink water", 0.5)
    assert caption == "Groundtruth: unknown - Prediction: drink water (0.500)"


def test_frame_steps_floor_rule():
    assert frame_steps(8, 2).tolist() == [0, 0, 0, 0, 1, 1, 1, 1]
    assert frame_steps(3, 6).tolist() == [0, 2, 4]


def test_topk_order_and_truth_outside_topk():
    names = ["a", "b", "c", "d", "e", "f"]
    probs = np.array([0.05, 0.4, 0.1, 0.3, 0.02, 0.13])
    fig = topk_figure(probs, names, truth=4, k=3)
    pred, truth = fig.data
    assert list(pred.y) == ["b", "d", "f"]
    assert np.allclose(pred.x, [0.4, 0.3, 0.13])
    assert list(pred.text) == ["0.400", "0.300", "0.130"]
    assert truth.name == "ground truth (rank 6)"
    assert list(truth.y) == ["e"] and np.allclose(truth.x, [0.02])
    assert truth.marker.color != pred.marker.color
    # the most probable class first, shown at the top (reversed axis), the truth bar last
    assert list(fig.layout.yaxis.categoryarray) == ["b", "d", "f", "e"]
    assert fig.layout.yaxis.autorange == "reversed"
    assert tuple(fig.layout.xaxis.range) == (0, 1)


def test_topk_truth_inside_topk_has_no_extra_bar():
    probs = np.array([0.1, 0.6, 0.3])
    fig = topk_figure(probs, ["x", "y", "z"], truth=2, k=2)
    assert list(fig.data[0].y) == ["y"]
    assert fig.data[1].name == "ground truth (rank 2)" and list(fig.data[1].y) == ["z"]
    assert list(fig.layout.yaxis.categoryarray) == ["y", "z"]
    assert len(topk_figure(probs, ["x", "y", "z"], truth=None, k=2).data) == 1


# --- parts ----------------------------------------------------------------------------------------


def test_weight_colour_is_monotonic_in_lightness():
    lum = [np.dot(weight_colour(w), [0.299, 0.587, 0.114]) for w in np.linspace(0, 1, 11)]
    assert np.all(np.diff(lum) > 0)
    assert weight_colour(2.0) == weight_colour(1.0)
    assert weight_colour(0.25, vmax=0.5) == weight_colour(0.5)


def test_draw_part_boxes_colours_by_weight_and_keeps_input():
    frames = _frames()
    before = frames.copy()
    boxes = np.tile(np.array([[5, 5, 30, 30], [40, 10, 75, 50]], np.float32), (4, 1, 1))  # (T, P, 4)
    out = draw_part_boxes(frames, boxes, np.array([0.2, 0.8]), ["left_hand", "right_hand"])
    assert np.array_equal(frames, before)
    assert out.shape == frames.shape and out.dtype == np.uint8
    assert tuple(out[0, 50, 57]) == weight_colour(0.8)  # bottom edge of the heavy part
    assert tuple(out[0, 30, 17]) == weight_colour(0.2)
    # the heavier box is drawn thicker
    heavy = (out[0, :, 57] == weight_colour(0.8)).all(axis=1).sum()
    light = (out[0, :, 17] == weight_colour(0.2)).all(axis=1).sum()
    assert heavy > light


def test_draw_part_boxes_maps_frames_to_steps():
    boxes = np.tile(np.array([[5, 5, 30, 30], [40, 10, 75, 50]], np.float32), (4, 1, 1))
    weights = np.array([[0.9, 0.1], [0.1, 0.9]])  # (T' = 2, P): frames 0, 1 -> step 0; 2, 3 -> step 1
    out = draw_part_boxes(_frames(), boxes, weights, ["a", "b"])
    assert [tuple(out[t, 30, 17]) for t in range(4)] == [weight_colour(0.9)] * 2 + [weight_colour(0.1)] * 2
    with pytest.raises(ValueError):
        draw_part_boxes(_frames(), boxes, np.ones(3) / 3, ["a", "b"])


def test_draw_skeleton_parts_colours_joints_by_part():
    joints = np.full((1, 2, NTU25.num_joints, 2), np.nan)  # (T, M, J, 2); person 2 missing entirely
    hand, head = NTU25.joint_index("hand_left"), NTU25.joint_index("head")
    joints[0, 0, hand] = (20, 30)
    joints[0, 0, head] = (60, 15)
    frames = _frames(T=1)
    out = draw_skeleton_parts(frames, joints, NTU25, {"left_hand": 0.7, "full_body": 0.1})
    assert tuple(out[0, 30, 20]) == weight_colour(0.7)  # the hand takes its most specific part
    assert tuple(out[0, 15, 60]) == weight_colour(0.1)  # the head is only in full_body
    out = draw_skeleton_parts(frames, joints, NTU25, {"left_hand": 0.7})
    assert tuple(out[0, 15, 60]) == UNWEIGHTED_COLOUR
    assert (out[0, 45:, :] == 30).all() and (frames == 30).all()  # nothing drawn where no joint is


def test_part_weights_figure_marks_truth_and_uniform():
    names = ["left_hand", "right_hand", "head"]
    fig = part_weights_figure(names, np.array([0.2, 0.5, 0.3]), ["right_hand"])
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["ground-truth part"].x) == ["right_hand"]
    assert by_name["ground-truth part"].marker.pattern.shape == "/"
    assert list(by_name["part weight"].x) == ["left_hand", "head"]
    assert np.allclose(by_name["part weight"].y, [0.2, 0.3])
    (uniform,) = _shapes(fig, "hline")
    assert uniform.y0 == pytest.approx(1 / 3) and uniform.line.dash == "dash"
    assert list(fig.layout.xaxis.categoryarray) == names


def test_part_weights_over_time_in_frames_with_marker():
    weights = np.array([[0.6, 0.4], [0.1, 0.9]])
    fig = part_weights_over_time_figure(["a", "b"], weights, num_frames=4, frame=2)
    assert np.allclose(fig.data[0].y, [0.6, 0.6, 0.1, 0.1, 0.1])
    assert np.allclose(fig.data[1].x, [0, 1, 2, 3, 4])
    assert all(t.stackgroup == "parts" for t in fig.data)
    (marker,) = _shapes(fig, "vline")
    assert marker.x0 == 2


# --- heatmap --------------------------------------------------------------------------------------


def test_upsample_maps_quadrant_and_steps():
    one = np.zeros((2, 2), np.float32)
    one[0, 1] = 0.25  # top right
    out = upsample_maps(one, (8, 10), num_frames=3)
    assert out.shape == (3, 8, 10) and out.dtype == np.float32
    y, x = np.unravel_index(out[0].argmax(), out[0].shape)
    assert y < 4 and x >= 5
    assert out.max() == pytest.approx(1.0) and out.min() >= 0
    assert out[0, 7, 0] == 0
    steps = np.zeros((2, 2, 2), np.float32)
    steps[0, 0, 1] = 1  # step 0: top right; step 1: bottom left
    steps[1, 1, 0] = 1
    out = upsample_maps(steps, (8, 8), num_frames=4)
    assert [out[t, 0, 7] for t in range(4)] == [1, 1, 0, 0]
    assert [out[t, 7, 0] for t in range(4)] == [0, 0, 1, 1]
    assert not upsample_maps(np.zeros((3, 3)), (6, 6), 2).any()


def test_overlay_heatmap_shape_and_blend():
    frames = _frames(T=2, H=6, W=8)
    maps = np.ones((2, 6, 8), np.float32)
    out = overlay_heatmap(frames, maps, alpha=1.0)
    assert out.shape == frames.shape and out.dtype == np.uint8 and (frames == 30).all()
    top = cv2.applyColorMap(np.array([[255]], np.uint8), HEATMAP_COLORMAP)[0, 0, ::-1]
    assert (out == top).all()
    assert np.array_equal(overlay_heatmap(frames, maps, alpha=0.0), frames)


def test_temporal_curve_steps_band_and_marker():
    fig = temporal_curve_figure(np.array([0.2, 0.5, 0.3]), num_frames=6, frame=4, truth_interval=(2, 5))
    (curve,) = [t for t in fig.data if t.name == "temporal attention"]
    assert np.allclose(curve.y, [0.2, 0.2, 0.5, 0.5, 0.3, 0.3, 0.3]) and curve.line.shape == "hv"
    (marker,) = _shapes(fig, "vline")
    assert marker.x0 == 4
    (band,) = _shapes(fig, "rect")
    assert (band.x0, band.x1) == (2, 5)
    (uniform,) = _shapes(fig, "hline")
    assert uniform.y0 == pytest.approx(1 / 3)
    assert not temporal_curve_figure(np.array([1.0]), num_frames=3).layout.shapes[1:]


# --- granularity ----------------------------------------------------------------------------------


def _granularity():
    # in the model's order (not ascending) to check that gamma follows the dict's order
    segments = {4: np.array([0.1, 0.2, 0.6, 0.1]), 2: np.array([0.3, 0.7]), 3: np.array([0.5, 0.2, 0.3])}
    gamma = np.array([0.2, 0.3, 0.5])  # G=4, G=2, G=3
    return granularity_rows(segments, gamma, num_frames=10)


def test_granularity_rows_bounds_percent_and_best():
    rows = _granularity()
    assert [r["G"] for r in rows] == [2, 3, 4]
    assert [r["tg"] for r in rows] == pytest.approx([30.0, 50.0, 20.0])
    assert [r["best"] for r in rows] == [False, True, False]
    for r in rows:
        assert [(s["start"], s["end"]) for s in r["segments"]] == segment_bounds(10, r["G"])
        assert sum(s["ts"] for s in r["segments"]) == pytest.approx(100.0)
    assert [[s["best"] for s in r["segments"]] for r in rows] == [
        [False, True],
        [True, False, False],
        [False, False, True, False],
    ]
    assert rows[0]["segments"][1]["ts"] == pytest.approx(70.0)


def test_granularity_image_marks_best_row_and_segments():
    rows = _granularity()
    img = granularity_image(_frames(T=10, H=40, W=60, value=128), rows, thumb=64)
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    row_h = img.shape[0] // len(rows)
    assert img.shape[0] == row_h * len(rows) and row_h > 64
    ys = np.flatnonzero((img == BEST_ROW_COLOUR).all(axis=2).any(axis=1))
    assert len(ys) and ys.min() >= row_h and ys.max() < 2 * row_h  # only in the G=3 row
    for i in range(len(rows)):
        assert (img[i * row_h : (i + 1) * row_h] == BEST_SEGMENT_COLOUR).all(axis=2).any()
    # thumbnails: G=4 row has 4 grey 64 x 96 thumbnails
    grey = (img[2 * row_h :] == 128).all(axis=2).sum()
    assert grey >= 4 * 64 * 96


def test_granularity_table():
    df = granularity_table(_granularity())
    assert list(df.columns) == ["G", "segment", "frames", "TS-att %", "TG-att %"]
    assert len(df) == 2 + 3 + 4
    assert df.iloc[0].to_dict() == {"G": 2, "segment": 1, "frames": "0-4", "TS-att %": 30.0, "TG-att %": 30.0}


# --- glimpses -------------------------------------------------------------------------------------


def test_glimpse_boxes_centre_scale_and_clip():
    g = np.array([[[0, 0, 0.5, 0.5], [1, 1, 0.5, 0.5]]])  # (T', N, 4)
    boxes = glimpse_boxes(g, (80, 100))
    assert np.allclose(boxes[0, 0], [25, 20, 75, 60])
    assert np.allclose(boxes[0, 1], [75, 60, 100, 80])


def _glimpses():
    g = np.zeros((2, 2, 4))
    g[0, 0] = (-0.5, -0.5, 0.3, 0.3)  # centre (25, 20), box (10, 8, 40, 32)
    g[0, 1] = (0.5, 0.5, 0.3, 0.3)  # centre (75, 60), box (60, 48, 90, 72)
    g[1, 0] = (-0.1, -0.5, 0.3, 0.3)  # moves right to (45, 20)
    g[1, 1] = (0.5, 0.5, 0.3, 0.3)
    return g


def test_draw_glimpses_colours_boxes_and_trail():
    frames = np.zeros((4, 80, 100, 3), np.uint8)
    out = draw_glimpses(frames, _glimpses(), trail=8)
    assert not frames.any() and out.shape == frames.shape
    assert tuple(out[0, 32, 25]) == GLIMPSE_COLOURS[0]  # bottom edge, step 0
    assert tuple(out[0, 72, 75]) == GLIMPSE_COLOURS[1]
    assert tuple(out[2, 32, 45]) == GLIMPSE_COLOURS[0]  # frame 2 shows step 1
    assert not out[0, 32, 55].any()
    # the path from step 0 to step 1 (anti-aliased, so nearly the glimpse's colour)
    assert np.abs(out[2, 20, 35].astype(int) - GLIMPSE_COLOURS[0]).max() < 20
    assert not draw_glimpses(frames, _glimpses(), trail=0)[2, 20, 35].any()


def test_assignment_figure_is_mean_over_time():
    rng = np.random.default_rng(0)
    a = rng.dirichlet(np.ones(4), size=(3, 2))  # (T', C, N)
    fig = assignment_figure(a)
    assert np.allclose(fig.data[0].z, a.mean(axis=0))
    assert list(fig.data[0].x) == [f"glimpse {n}" for n in (1, 2, 3, 4)]
    assert list(fig.data[0].y) == ["worker 1", "worker 2"]
    steps = fig.layout.sliders[0].steps
    assert len(steps) == 4 and np.allclose(steps[2].args[0]["z"][0], a[1])


def test_trajectory_figure_paths_and_colours():
    g = _glimpses()
    fig = trajectory_figure(g, (80, 100))
    centres = glimpse_centres(g, (80, 100))
    assert np.allclose(fig.data[0].x, [25, 45]) and np.allclose(fig.data[0].y, centres[:, 0, 1])
    assert fig.data[1].line.color == "rgb({}, {}, {})".format(*GLIMPSE_COLOURS[1])
    assert tuple(fig.layout.yaxis.range) == (80, 0)  # y down


# --- export ---------------------------------------------------------------------------------------


def test_png_roundtrip():
    img = np.random.default_rng(0).integers(0, 256, (12, 17, 3), dtype=np.uint8)
    back = cv2.imdecode(np.frombuffer(png_bytes(img), np.uint8), cv2.IMREAD_COLOR)[..., ::-1]
    assert np.array_equal(back, img)


def test_html_csv_webm():
    html = html_bytes(topk_figure(np.array([0.7, 0.3]), ["a", "b"], 0))
    assert b"plotly" in html and len(html) > 1_000_000  # plotly.js is inlined
    df = granularity_table(_granularity())
    assert pd.read_csv(io.BytesIO(csv_bytes(df))).equals(df)
    video = webm_bytes(_frames(T=3, H=32, W=32), fps=10)
    assert video[:4] == bytes.fromhex("1a45dfa3")
