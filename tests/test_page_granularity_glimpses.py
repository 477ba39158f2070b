"""The Temporal granularity and Glimpse Clouds pages: their viz helpers checked by data, and the pages
through AppTest on the shipped checkpoints, compared with the model run directly on the same clip."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from plotly_arrays import array
from streamlit.testing.v1 import AppTest

from app_support.sources import load_source
from core_models import results
from core_models.attention_scores import segment_scores
from core_models.data.video import write_video
from core_models.inspect import Inspection, inspect_clip, load_model
from viz.glimpses import (
    TABLE_COLUMNS,
    VIEW_COLOUR,
    assignment_figure,
    draw_glimpses,
    glimpse_boxes,
    glimpse_table,
    glimpses_in_frame,
    person_share,
    trajectory_figure,
)
from viz.granularity import (
    TRUTH_COLOUR,
    TRUTH_COLUMN,
    granularity_image,
    granularity_rows,
    granularity_table,
    with_truth,
)

ROOT = Path(__file__).parents[1]
CHECKPOINTS = ROOT / "checkpoints"
CLIP = {"kind": "synthetic", "name": "S001C001P001R001A001"}
GRANULARITY, GLIMPSES = "temporal_granularity-cs", "glimpse_clouds-cs"
needs_shipped = pytest.mark.skipif(
    not all((CHECKPOINTS / n / "model.pt").is_file() for n in (GRANULARITY, GLIMPSES, "glimpse_clouds-cv")),
    reason="no shipped checkpoints",
)


# --- viz: glimpses in the frame through the view box ----------------------------------------------


def test_glimpses_in_frame_maps_through_the_view_box():
    # 160 x 120 frames, the model's input is the centred 120 x 120 square (x 20..140)
    views = np.tile([20.0, 0.0, 140.0, 120.0], (10, 1))
    views[7] = [40.0, 20.0, 100.0, 80.0]  # a smaller box (a person crop) on frame 7
    g = np.array([[[0, 0, 0.5, 0.5], [-1, -1, 1, 1]], [[1, 0, 0.5, 0.25], [0, 0, 1, 1]]])  # (T'=2, N=2, 4)
    out = glimpses_in_frame(g, views, frame_index=np.array([2, 7]), size=(120, 160))
    assert out.shape == (2, 2, 4)
    # step 0 on the centred square: its centre is the frame's centre, its corner is pixel (20, 0)
    assert np.allclose(out[0, 0], [0, 0, 0.5 * 120 / 160, 0.5])
    assert np.allclose(out[0, 1], [20 / 160 * 2 - 1, -1, 120 / 160, 1])
    # step 1 on frame 7's box: right edge x = 100, centre y = 50; the box is 60 px wide and high
    assert np.allclose(out[1, 0], [100 / 160 * 2 - 1, 50 / 120 * 2 - 1, 0.5 * 60 / 160, 0.25 * 60 / 120])
    # in pixels: a half-size glimpse spans half the square; a full-size one, the whole view box
    assert np.allclose(glimpse_boxes(out, (120, 160))[0, 0], [50, 30, 110, 90])
    assert np.allclose(glimpse_boxes(out, (120, 160))[1, 1], [40, 20, 100, 80])
    with pytest.raises(ValueError, match=r"\(T', \)|T' = 2"):
        glimpses_in_frame(g, views, np.array([0]), (120, 160))
    with pytest.raises(ValueError, match=r"\(T, 4\)"):
        glimpses_in_frame(g, views[:, :2], np.array([0, 1]), (120, 160))


def test_draw_glimpses_outlines_the_view_box():
    frames = np.zeros((2, 40, 60, 3), np.uint8)
    views = np.tile([10.0, 0.0, 50.0, 40.0], (2, 1))
    g = np.array([[[0.9, 0.9, 0.05, 0.05]]])  # one small glimpse in the corner, away from the edges
    out = draw_glimpses(frames, g, view_boxes=views)
    assert tuple(out[0, 20, 10]) == VIEW_COLOUR and tuple(out[1, 20, 49]) == VIEW_COLOUR
    assert not out[0, 20, 9].any() and not out[0, 20, 30].any()
    assert not draw_glimpses(frames, g)[0, 20, 10].any()


def test_assignment_figure_at_a_step_and_trajectory_ring():
    a = np.random.default_rng(0).dirichlet(np.ones(3), size=(4, 2))  # (T', C, N)
    fig = assignment_figure(a, step=2)
    assert np.allclose(fig.data[0].z, a[2]) and "step 2" in fig.layout.title.text
    assert fig.layout.sliders[0].active == 3  # "mean" is the slider's first entry
    assert np.allclose(assignment_figure(a).data[0].z, a.mean(axis=0))
    with pytest.raises(ValueError, match="step"):
        assignment_figure(a, step=4)
    g = np.zeros((3, 2, 4))
    g[:, 1, 0] = [-0.5, 0.0, 0.5]
    fig = trajectory_figure(g, (40, 80), step=1)
    assert len(fig.data) == 3 and fig.data[2].name == "step 1"
    assert np.allclose(fig.data[2].x, [40, 40]) and np.allclose(fig.data[2].y, [20, 20])


def test_glimpse_table_pixels():
    g = np.zeros((2, 3, 4))
    g[1, 2] = [0.5, -0.5, 0.25, 0.5]
    df = glimpse_table(g, np.array([4, 9]), (40, 80))
    assert list(df.columns) == list(TABLE_COLUMNS) and len(df) == 6
    last = df.iloc[-1].to_dict()
    assert last == {"step": 1, "frame": 9, "glimpse": 3, "x": 60.0, "y": 10.0, "width": 20.0, "height": 20.0}


# --- viz: segments against the ground-truth interval ----------------------------------------------


def _rows():
    segments = {2: np.array([0.3, 0.7]), 3: np.array([0.5, 0.2, 0.3])}
    return granularity_rows(segments, np.array([0.4, 0.6]), num_frames=12)  # segments of 6 and 4 frames


def test_with_truth_fractions_table_and_bar():
    rows = with_truth(_rows(), (3, 8))
    assert "truth" not in _rows()[0]["segments"][0]  # a copy
    assert [[s["truth"] for s in r["segments"]] for r in rows] == [[0.5, 2 / 6], [0.25, 1.0, 0.0]]
    assert [(s["truth_start"], s["truth_end"]) for s in rows[1]["segments"]] == [(3, 4), (4, 8), (8, 8)]
    df = granularity_table(rows)
    assert df.columns[-1] == TRUTH_COLUMN and list(df[TRUTH_COLUMN]) == [50.0, 33.3, 25.0, 100.0, 0.0]
    assert TRUTH_COLUMN not in granularity_table(_rows()).columns

    frames = np.full((12, 40, 60, 3), 128, np.uint8)
    assert not (granularity_image(frames, _rows(), thumb=64) == TRUTH_COLOUR).all(axis=2).any()
    img = granularity_image(frames, rows, thumb=64)
    row_h = img.shape[0] // 2
    bars = (img == TRUTH_COLOUR).all(axis=2)
    top, bottom = bars[:row_h], bars[row_h:]
    # G=2: half of segment 1 (its right half, 48 px) and a third of segment 2 (its left third, 32 px)
    assert top.sum(axis=1).max() == 48 + 32
    # G=3: a quarter of segment 1, all of segment 2 (96 px), nothing of segment 3
    assert bottom.sum(axis=1).max() == 24 + 96


# --- the pages ------------------------------------------------------------------------------------


@cache
def reference(model: str, source: str = json.dumps(CLIP)) -> Inspection:
    """The model run directly (not through the app) on the clip the page shows."""
    return inspect_clip(load_model(CHECKPOINTS / model / "model.pt", model), load_source(json.loads(source)))


def page(name: str, model: str | None = None, source: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=120)
    at.session_state["clip_source"] = source or CLIP
    if model is not None:
        at.session_state["model_name"] = model
    return at.run()


def plotly(at: AppTest, i: int) -> dict:
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def _segments_mean(*args):
    return segment_scores(*args)[1]


@needs_shipped
def test_granularity_page_shows_the_models_attention():
    at = page("granularity.py", GRANULARITY)
    assert not at.exception, at.exception
    assert not at.error
    assert not at.selectbox  # the sidebar's model: no picker on the page
    ref = reference(GRANULARITY)
    caption = at.subheader[0].value
    assert caption.endswith(f"Prediction: {ref.class_names[ref.pred]} ({ref.confidence:.3f})")
    assert "Groundtruth: drink water" in caption
    assert len(at.get("image")) == 1

    table = at.dataframe[0].value
    order = list(ref.attention["segments"])  # the model's order of granularities
    for G, beta in ref.attention["segments"].items():
        rows = table[table["G"] == G]
        assert list(rows["segment"]) == list(range(1, G + 1))
        assert np.allclose(rows["TS-att %"], 100 * beta, atol=0.01)
        assert np.allclose(rows["TG-att %"], 100 * ref.attention["granularity"][order.index(G)], atol=0.01)
    # ground truth: a synthetic clip says how much of each segment lies in its interval
    assert TRUTH_COLUMN in table.columns and table[TRUTH_COLUMN].between(0, 100).all()
    assert (table[TRUTH_COLUMN] > 0).any()

    # the most attended granularity and its most attended segment are named
    best_g = order[int(np.argmax(ref.attention["granularity"]))]
    beta = ref.attention["segments"][best_g]
    best_k = int(np.argmax(beta))
    summary = next(m.value for m in at.markdown if m.value.startswith("Most attended granularity"))
    assert f"**G={best_g}**" in summary and f"**segment {best_k + 1}**" in summary
    assert f"TS-att {100 * beta[best_k]:.1f}%" in summary
    assert len(at.get("download_button")) == 3  # the slide (PNG), the table and the what-if table (CSV)

    # the segment weights' share on the truth, beside equal weights, the middle and the best
    # segment, as evaluate scores it (checked against a CV test clip's row), and what equal
    # weights cost the model over its test split
    clip = load_source(CLIP)
    start, end = clip.truth.interval
    cv = reference("temporal_granularity-cv")
    fields = load_model(CHECKPOINTS / "temporal_granularity-cv" / "model.pt").model.attention_fields
    here = _segments_mean(cv.attention["segments"], (start / clip.num_frames, end / clip.num_frames), fields)
    row = (
        results.read_eval(CHECKPOINTS / "temporal_granularity-cv", "test")[0]
        .set_index("clip")
        .loc[CLIP["name"]]
    )
    for k in ("truth_share", "uniform", "middle", "best"):
        assert abs(here["share" if k == "truth_share" else k] - row[f"segments_{k}"]) < 1e-6
    here = _segments_mean(ref.attention["segments"], (start / clip.num_frames, end / clip.num_frames), fields)
    text = next(m.value for m in at.markdown if m.value.startswith("On this clip the segment weights"))
    assert f"**{here['share']:.2f}**" in text and f"always the middle segment: {here['middle']:.2f}" in text
    split = json.loads((CHECKPOINTS / GRANULARITY / "eval" / "test" / "metrics.json").read_text())
    assert f"Over its test split: {split['attention_scores']['segments']['share']:.2f}" in text
    worth = next(m.value for m in at.markdown if m.value.startswith("What the weights are worth"))
    flat = split["attention_checks"]["interventions"]["uniform:granularity"]["top1"]
    assert f"{flat:.3f} with equal granularity" in worth
    true = split["attention_checks"]["interventions"]["truth"]["top1"]  # the segments on the truth
    assert f"{true:.3f} with the ground-truth segment weights in every row" in worth


@needs_shipped
def test_granularity_page_offers_models_with_segments():
    at = page("granularity.py", "part_attention-cs")
    assert not at.exception, at.exception
    assert "part_attention-cs" in at.info[0].value and not at.dataframe
    labels = [b.label for b in at.button]
    assert labels[0] == "Use temporal_granularity-cs"  # the same split first
    assert all(label.startswith("Use temporal_granularity-") for label in labels)
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert at.session_state["model_name"] == "temporal_granularity-cs" and len(at.dataframe) == 2


@needs_shipped
@pytest.mark.parametrize("model", [GLIMPSES, "glimpse_clouds-cv"])
def test_glimpse_page_renders_and_follows_the_slider(model):
    at = page("glimpses.py", model)
    assert not at.exception, at.exception
    assert not at.error
    assert len(at.get("iframe")) == 1 and len(at.get("image")) == 1 and len(at.get("plotly_chart")) == 2
    assert len(at.get("download_button")) == 5  # video, frame, two figures, table

    ref = reference(model)
    glimpses, assignment = ref.attention["glimpses"], ref.attention["assignment"]  # (T', N, 4), (T', C, N)
    table = at.dataframe[0].value
    assert len(table) == glimpses.shape[0] * glimpses.shape[1]
    assert list(table["frame"].unique()) == list(ref.frame_index)
    # in pixels of the 160 x 120 frame, inside the model's centred 120 x 120 square
    assert table["x"].between(20, 140).all() and table["y"].between(0, 120).all()
    paths = plotly(at, 0)["data"]
    assert [d["name"] for d in paths[:3]] == ["glimpse 1", "glimpse 2", "glimpse 3"]

    # the glimpses' share on the person, beside what random glimpses and the best place would get,
    # as evaluate measured it for this clip (a CV test clip) and over the whole test split
    share = person_share(glimpses, load_source(CLIP).joints2d, ref.view_boxes, ref.frame_index)
    if model == "glimpse_clouds-cv":
        row = results.read_eval(CHECKPOINTS / model, "test")[0].set_index("clip").loc[CLIP["name"]]
        assert abs(share["share"] - row["glimpses_truth_share"]) < 1e-6
        assert abs(share["uniform"] - row["glimpses_uniform"]) < 1e-6
    split = json.loads((CHECKPOINTS / model / "eval" / "test" / "metrics.json").read_text())
    text = next(m.value for m in at.markdown if "of the glimpse area lies on the person" in m.value)
    assert f"**{share['share']:.2f}**" in text and f"at random: {share['uniform']:.2f}" in text
    g = split["attention_scores"]["glimpses"]
    assert f"Over its test split: {g['share']:.2f} ({g['uniform']:.2f}, {g['best']:.2f})" in text
    assert f"top-1 {split['attention_checks']['interventions']['uniform']['top1']:.3f}" in text
    assert "does not yet decide the class" in text  # uniform glimpses cost the shipped models < 0.08

    last = load_source(CLIP).num_frames - 1
    for frame, step in ((0, 0), (last, len(assignment) - 1)):  # the first and the last step
        at.slider(key="frame").set_value(frame).run()
        assert not at.exception, at.exception
        heat = plotly(at, 1)
        assert heat["layout"]["title"]["text"].endswith(f"(step {step})")
        assert np.allclose(array(heat["data"][0]["z"]), assignment[step], atol=1e-6)
        assert plotly(at, 0)["data"][-1]["name"] == f"step {step}"


@needs_shipped
def test_a_clip_without_skeleton(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (16, 48, 64, 3), dtype=np.uint8)
    video = write_video(tmp_path / "no_skeleton.avi", frames, fps=10)
    source = {"kind": "upload", "video": str(video), "skeleton": None}

    at = page("granularity.py", GRANULARITY, source)
    assert not at.exception, at.exception
    assert len(at.error) == 1 and "skeleton" in at.error[0].value
    assert not at.dataframe

    at = page("glimpses.py", GLIMPSES, source)  # Glimpse Clouds reads RGB only
    assert not at.exception, at.exception
    assert not at.error and "Groundtruth: unknown" in at.subheader[0].value
    assert len(at.dataframe) == 1
    assert any("has no 2D joints" in c.value for c in at.caption)  # no share on a person it cannot place
