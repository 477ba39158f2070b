"""The Body-part and Spatio-temporal attention pages through AppTest on the shipped checkpoints, and the
viz functions they draw with, checked by their data.

Shipped models give clip-level part weights and a temporal-only model is not shipped, so two tests
replace ``state.inspection`` with one that reshapes a real inspection (per-step part weights; the
spatial map removed); AppTest runs the page in this process, so the replacement is what it calls.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app_support import state
from app_support.sources import load_source
from core_models.data.clip import ClipTruth
from core_models.data.layouts import NTU25
from core_models.data.sampling import sample_indices
from core_models.data.video import write_video
from core_models.inspect import inspect_clip, load_model
from core_models.synth.generate import render_clip
from viz.charts import frame_steps, prediction_caption
from viz.heatmap import (
    boxed_maps,
    interval_mass,
    overlay_boxed_heatmap,
    overlay_heatmap,
    spatial_map_figure,
)
from viz.parts import (
    draw_skeleton_parts,
    draw_skeleton_weights,
    enlarge,
    part_weights_table,
    parts_split_sentence,
    place_labels,
    weight_colour,
)

ROOT = Path(__file__).parents[1]
CLIP = {"kind": "synthetic", "name": "S001C001P001R001A001"}  # drink water, left hand
_TRUTH = render_clip(CLIP["name"], size=(30, 40))  # its length and truth interval (cheap at 40x30)
NUM_FRAMES, INTERVAL = _TRUTH.num_frames, tuple(int(f) for f in _TRUTH.truth.interval)
LATE = NUM_FRAMES - 10  # a frame in the second half: the last of two steps


# ------------------------------------------------------------------------------------------------ viz


def test_boxed_maps_fill_only_the_box_with_the_peak_where_the_map_has_it():
    attention = np.array([[0.1, 0.7], [0.1, 0.1]])  # peak in the top-right cell
    boxes = np.tile([20.0, 10.0, 60.0, 50.0], (3, 1))  # (T, 4) a 40 x 40 square
    placed = boxed_maps(attention, boxes, (60, 80))
    assert placed.shape == (3, 60, 80) and placed.dtype == np.float32
    inside = np.isfinite(placed[0])
    assert inside[10:50, 20:60].all() and inside.sum() == 40 * 40
    assert np.nanmax(placed) == pytest.approx(1.0)
    row, col = np.unravel_index(np.nanargmax(placed[0]), placed[0].shape)
    assert 10 <= row < 30 and 40 <= col < 60  # the top-right quarter of the box


def test_boxed_maps_follow_steps_moving_boxes_and_the_frame_edge():
    maps = np.zeros((2, 2, 2))  # (T', h, w): step 0 looks top-left, step 1 bottom-right
    maps[0, 0, 0] = maps[1, 1, 1] = 1.0
    boxes = np.array([[0, 0, 20, 20], [0, 0, 20, 20], [30, 10, 50, 30], [-10, -10, 10, 10]], float)
    placed = boxed_maps(maps, boxes, (40, 60))  # frames 0, 1 -> step 0; 2, 3 -> step 1
    peaks = [np.unravel_index(np.nanargmax(p), p.shape) for p in placed]
    assert peaks[0] == (0, 0) and peaks[1] == (0, 0)
    assert peaks[2][0] >= 20 and peaks[2][1] >= 40  # bottom-right of the moved box
    assert np.isfinite(placed[3]).sum() == 10 * 10  # only the part of the box inside the frame
    nan_box = boxed_maps(maps[0], np.array([[np.nan] * 4]), (40, 60))
    assert np.isnan(nan_box).all()
    with pytest.raises(ValueError, match="boxes"):
        boxed_maps(maps, np.zeros((4, 3)), (40, 60))


def test_overlay_boxed_heatmap_blends_inside_and_darkens_outside():
    frames = np.full((2, 30, 40, 3), 200, np.uint8)
    before = frames.copy()
    boxes = np.tile([10.0, 5.0, 30.0, 25.0], (2, 1))
    out = overlay_boxed_heatmap(frames, np.ones((3, 3)), boxes, alpha=0.5, dim=0.5)
    assert np.array_equal(frames, before) and out.shape == frames.shape and out.dtype == np.uint8
    assert (out[:, :5] == 100).all() and (out[:, :, :10] == 100).all()  # outside: 200 * (1 - 0.5)
    expected = overlay_heatmap(frames, np.ones((2, 30, 40), np.float32), 0.5)
    assert np.array_equal(out[:, 5:25, 10:30], expected[:, 5:25, 10:30])


def test_spatial_map_figure_shows_the_raw_values_row_zero_on_top():
    m = np.array([[0.1, 0.2], [0.3, 0.4]])
    fig = spatial_map_figure(m, "step 0")
    (heat,) = fig.data
    np.testing.assert_allclose(np.asarray(heat.z, dtype=float), m)
    assert heat.text[1][1] == "0.40" and tuple(fig.layout.yaxis.range) == (1.5, -0.5)  # row 0 on top
    with pytest.raises(ValueError, match=r"\(h, w\)"):
        spatial_map_figure(np.zeros((2, 2, 2)))


def test_interval_mass_spreads_each_step_over_its_frames():
    assert interval_mass(np.full(4, 0.25), 10, (2, 7)) == pytest.approx(0.5)  # uniform: 5 / 10
    assert interval_mass(np.array([0.0, 1.0]), 10, (5, 10)) == pytest.approx(1.0)
    assert interval_mass(np.array([0.0, 1.0]), 10, (0, 5)) == pytest.approx(0.0)
    assert interval_mass(np.array([0.0, 1.0]), 10, (4, 12)) == pytest.approx(1.0)  # clipped to the clip
    with pytest.raises(ValueError):
        interval_mass(np.ones((2, 2)), 10, (0, 5))


@pytest.mark.parametrize(("num_frames", "num_samples", "num_steps"), [(51, 16, 2), (51, 8, 8), (300, 64, 8)])
def test_frame_steps_agree_with_the_steps_the_model_read(num_frames, num_samples, num_steps):
    # The pages map step t' onto frames with frame_steps; the model's step t' pooled the samples
    # i with i * T' // N == t', taken at bin centres: each sampled frame must show its own step.
    frame_index = sample_indices(num_frames, num_samples)
    model_steps = np.arange(num_samples) * num_steps // num_samples
    assert np.array_equal(frame_steps(num_frames, num_steps)[frame_index], model_steps)


def _hand_joints(T: int) -> np.ndarray:
    joints = np.full((T, 1, NTU25.num_joints, 2), np.nan)  # (T, M, J, 2)
    joints[:, 0, NTU25.joint_index("hand_left")] = (20, 30)
    return joints


def test_draw_skeleton_weights_colours_each_frame_by_its_step():
    frames = np.full((4, 60, 80, 3), 30, np.uint8)
    names = ["left_hand", "full_body"]
    per_step = np.array([[0.9, 0.1], [0.2, 0.8]])  # (T', P): frames 0, 1 -> step 0; 2, 3 -> step 1
    out = draw_skeleton_weights(frames, _hand_joints(4), NTU25, names, per_step)
    assert [tuple(out[t, 30, 20]) for t in range(4)] == [weight_colour(0.9)] * 2 + [weight_colour(0.2)] * 2
    clip_level = draw_skeleton_weights(frames, _hand_joints(4), NTU25, names, np.array([0.6, 0.4]))
    same = draw_skeleton_parts(frames, _hand_joints(4), NTU25, {"left_hand": 0.6, "full_body": 0.4})
    assert np.array_equal(clip_level, same)
    with pytest.raises(ValueError):
        draw_skeleton_weights(frames, _hand_joints(4), NTU25, names, np.ones(3) / 3)


def test_part_weights_table_puts_the_ground_truth_beside_the_weights():
    names = ["left_hand", "right_hand", "full_body"]
    parts = np.zeros((10, 3), bool)  # truth columns: left_hand, head, right_hand
    parts[2:6, 0] = True  # the left hand acts in half of the interval 2..9
    truth = ClipTruth(("left_hand", "head", "right_hand"), parts, (2, 10))
    table = part_weights_table(names, np.array([[0.6, 0.2, 0.2], [0.2, 0.2, 0.6]]), truth)
    assert list(table.columns) == ["part", "weight", "ground truth", "share of interval"]
    np.testing.assert_allclose(table["weight"], [0.4, 0.2, 0.4])  # mean over steps
    assert table["ground truth"].tolist() == [True, False, False]
    share = table["share of interval"]
    assert share.iloc[0] == pytest.approx(0.5) and share.iloc[1] == 0
    assert np.isnan(share.iloc[2])  # the truth does not name full_body
    assert list(part_weights_table(names, np.ones(3) / 3).columns) == ["part", "weight"]


def _intersect(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_of_boxes_at_the_same_corner_are_not_overprinted():
    boxes = [("right_hand 0.51", (10, 40, 50, 80)), ("full_body 0.31", (12, 40, 90, 110))]
    first, second = place_labels(boxes, (120, 160))
    assert first.rect[0] == 10 and first.rect[3] <= 40  # the first sits just above its box
    assert not _intersect(first.rect, second.rect)
    # a skeleton where the first label would go pushes it aside, and no label lands on it
    blocked = np.zeros((120, 160), bool)
    blocked[:40, :60] = True
    for label in place_labels(boxes, (120, 160), blocked):
        x0, y0, x1, y1 = label.rect
        assert not blocked[y0:y1, x0:x1].any() and 0 <= x0 < x1 <= 160 and 0 <= y0 < y1 <= 120


def test_enlarge_small_frames_and_report_the_scale():
    big, scale = enlarge(np.zeros((2, 120, 160, 3), np.uint8), 360)
    assert big.shape == (2, 360, 480, 3) and scale == 3.0
    same, one = enlarge(np.zeros((1, 400, 300, 3), np.uint8), 360)
    assert same.shape == (1, 400, 300, 3) and one == 1.0
    # a clip too long for 360 rows within the budget grows as far as the budget allows
    longer, part = enlarge(np.zeros((10, 120, 160, 3), np.uint8), 360, max_bytes=10 * 240 * 320 * 3)
    assert longer.shape == (10, 240, 320, 3) and part == 2.0
    kept, none = enlarge(np.zeros((10, 120, 160, 3), np.uint8), 360, max_bytes=10 * 120 * 160 * 3)
    assert kept.shape == (10, 120, 160, 3) and none == 1.0


# ------------------------------------------------------------------------------------------------ pages


@pytest.fixture(scope="module")
def clip():
    return load_source(CLIP)


def run(page: str, **session) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120)
    for key, value in session.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def chart(at: AppTest, key: str) -> dict:
    """The plotly figure drawn with widget key ``key``, as a dict."""
    found = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if c.proto.id.endswith(key)]
    assert len(found) == 1, [c.proto.id for c in at.get("plotly_chart")]
    return found[0]


def values(data) -> np.ndarray:
    """A figure array as plotly's JSON holds it: a list, or a typed array ``{dtype, bdata, shape}``."""
    if isinstance(data, dict):
        flat = np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"])
        shape = data.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(data)


def bar_heights(fig: dict) -> dict[str, float]:
    return {x: float(y) for d in fig["data"] for x, y in zip(d["x"], values(d["y"]), strict=True)}


def markers(fig: dict) -> list[float]:
    """x of the vertical frame markers (lines spanning the plot's height)."""
    return [s["x0"] for s in fig["layout"].get("shapes", []) if s["type"] == "line" and s["x0"] == s["x1"]]


def downloads(at: AppTest) -> set[str]:
    return {b.proto.id.rsplit("-", 1)[-1] for b in at.get("download_button")}


def test_parts_page_shows_the_weights_the_truth_and_the_prediction(clip):
    at = run("parts.py", clip_source=CLIP, model_name="part_attention-cs")
    insp = inspect_clip(load_model(ROOT / "checkpoints/part_attention-cs/model.pt"), clip)
    want = prediction_caption(insp.class_names[insp.label], insp.class_names[insp.pred], insp.confidence)
    assert at.subheader[0].value.endswith(want)
    bars = chart(at, "parts_bars")
    truth = [d for d in bars["data"] if d["name"] == "ground-truth part"]
    assert truth and truth[0]["x"] == ["left_hand"]
    shown = bar_heights(bars)
    weights = insp.attention["parts"]  # the shipped model weighs the parts per feature step
    assert weights.ndim == 2 and len(weights) == 4
    t = at.slider(key="frame").value  # the bars are the weights of the step under the slider
    now = weights[int(frame_steps(clip.num_frames, len(weights))[t])]
    np.testing.assert_allclose([shown[n] for n in insp.part_names], now, rtol=1e-5)
    assert any(f"Part weights at frame {t} (step" in m.value for m in at.markdown)
    assert chart(at, "parts_time")["data"]  # and the weights of every step over the clip
    assert any("carried by **left_hand**" in m.value for m in at.markdown)
    assert len(at.get("iframe")) == 1 and len(at.get("image")) == 1 and len(at.dataframe) == 2  # + what if
    assert {"parts_video_webm", "parts_frame_png", "parts_bars_html", "parts_table_csv",
            "parts_what_if_csv"} <= downloads(at)  # fmt: skip
    # what the attention is worth to the model over its test split, from its interventions: the
    # shipped part weights are not needed (uniform ones score higher), and the page says so
    split = json.loads((ROOT / "checkpoints/part_attention-cs/eval/test/metrics.json").read_text())
    inter = split["attention_checks"]["interventions"]
    worth = next(m.value for m in at.markdown if m.value.startswith("Over its test split"))
    assert (
        f"**{split['top1']:.3f}**" in worth and f"all of it uniform {inter['uniform']['top1']:.3f}" in worth
    )
    assert f"uniform part weights alone {inter['uniform:parts']['top1']:.3f}" in worth
    assert (inter["uniform:parts"]["top1"] >= split["top1"] - 0.02) == (
        "Equal part weights do as well" in worth
    )
    # where the weights go over the test split, beside equal weights and the best the parts allow,
    # and on the clips where weights can miss
    sc = split["attention_scores"]
    where = next(m.value for m in at.markdown if m.value.startswith("**Where the part weights go.**"))
    assert f"**{sc['parts']['share']:.2f}**" in where and f"would put {sc['parts']['uniform']:.2f}" in where
    assert f"On the {sc['parts_informative']['clips']} clips" in where
    assert f"**{sc['parts_informative']['share']:.2f}**, equal weights 0.50" in where
    assert f"{sc['parts_by_dominant_hand']['left']['acting_wins']:.2f} of the left-handed" in where
    at.slider(key="frame").set_value(7).run()
    assert not at.exception and at.get("image")[0].proto.imgs[0].caption == "frame 7"


def test_parts_split_sentence_reads_without_the_informative_clips_or_hands():
    scores = {"parts": {"share": 0.7, "uniform": 0.5, "best": 1.0, "clips": 10}}
    text = parts_split_sentence(scores)
    assert "**0.70**" in text and "would put 0.50 there" in text and "allow 1.00" in text
    assert "can miss" not in text and "acting hand" not in text
    # every clip is one where weights can miss: nothing more to say than the first sentence
    assert parts_split_sentence({**scores, "parts_informative": {**scores["parts"]}}) == text
    assert parts_split_sentence({}) is None and parts_split_sentence(None) is None


def test_worth_sentence_names_the_attention_a_model_does_not_need():
    from viz.checks import worth_sentence

    inter = {"uniform": 0.30, "uniform:spatial": 0.59, "uniform:temporal": 0.40, "uniform:segments:2": 0.1,
             "swap_other": 0.2, "swap_same": 0.5}  # fmt: skip
    checks = {"interventions": {k: {"top1": v} for k, v in inter.items()}}
    metrics = {"top1": 0.60, "attention_checks": checks}
    text = worth_sentence(metrics)
    assert text.startswith("Over its test split this model scores top-1 **0.600**")
    assert "uniform map weights alone 0.590" in text and "uniform time-step weights alone 0.400" in text
    assert "another class's clip's attention 0.200" in text and "a same-class clip's 0.500" in text
    assert "segments" not in text  # per-row segment checks are the granularity page's own sentence
    assert text.endswith(
        "Equal map weights do as well: that part of the picture is not what the model relies on."
    )
    assert worth_sentence({"top1": 0.5}) is None and worth_sentence(None) is None
    # equal weights everywhere doing as well is said of the whole attention (one-kind models too)
    flat = {"top1": 0.374, "attention_checks": {"interventions": {"uniform": {"top1": 0.372}}}}
    assert worth_sentence(flat).endswith("Equal weights everywhere do as well: the model does not rely on "
                                         "where its attention goes.")  # fmt: skip
    assert "do as well" not in worth_sentence({**flat, "top1": 0.40})
    # a model whose scores add a pose classifier's says so beside its accuracy
    fused = worth_sentence(metrics, fused=True)
    assert fused.startswith("Over its test split this model (+ pose classifier) scores")
    # with the ground-truth attention: all the kinds that have one, then each alone, read against
    # the model's own top-1
    truth = {"truth": {"top1": 0.45, "kinds": ["spatial", "temporal"]}, "truth:spatial": {"top1": 0.38},
             "truth:temporal": {"top1": 0.66}}  # fmt: skip
    checks["interventions"].update({k: dict(v) for k, v in truth.items()})
    text = worth_sentence(metrics)
    assert "With the ground-truth map and time-step weights at its resolution" in text
    assert "scores **0.450** (true map weights alone 0.380, true time-step weights alone 0.660)" in text
    assert text.endswith("so the model reads its own weights, not only where they land.")
    checks["interventions"]["truth"]["top1"] = 0.70
    assert worth_sentence(metrics).endswith("attention that found the evidence would raise its accuracy.")
    # kinds without a ground truth keep the model's own weights, and the sentence says which
    tg = {"top1": 0.6, "attention_checks": {"interventions": {
        "uniform": {"top1": 0.2}, "uniform:granularity": {"top1": 0.3}, "uniform:segments:2": {"top1": 0.5},
        "truth": {"top1": 0.61, "kinds": ["segments:2", "segments:3"]},
        "truth:segments:2": {"top1": 0.6}}}}  # fmt: skip
    text = worth_sentence(tg)
    assert "ground-truth segment weights" in text and "its own granularity weights kept" in text
    assert "alone" not in text.split("With the")[1] and text.endswith("about what it scores with its own.")


def test_a_model_without_part_attention_offers_the_models_that_have_it():
    at = run("parts.py", clip_source=CLIP, model_name="i3d-cs")  # i3d has no part attention
    assert "i3d-cs" in at.info[0].value and "has no body-part attention" in at.info[0].value
    offered = [b.label for b in at.button]
    assert offered and all(label.startswith("Use part_attention") for label in offered)
    assert not at.get("plotly_chart")  # no picker of its own: the sidebar's model rules
    at.button[0].click().run()  # one click makes it the sidebar's model
    assert not at.exception, at.exception
    assert at.session_state["model_name"] == offered[0].removeprefix("Use ")
    assert not at.error and chart(at, "parts_bars")


def test_per_step_part_weights_get_a_timeline_synced_to_the_slider(monkeypatch):
    real = state.inspection
    names = []

    def per_step(entry, clip):
        insp = real(entry, clip)
        names[:] = list(insp.part_names)
        steps = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])[:, -len(names) :]  # (T', P)
        return dataclasses.replace(insp, attention={"parts": steps / steps.sum(1, keepdims=True)})

    monkeypatch.setattr(state, "inspection", per_step)
    at = run("parts.py", clip_source=CLIP, model_name="part_attention-cs")
    assert markers(chart(at, "parts_time")) == [NUM_FRAMES // 2]
    at.slider(key="frame").set_value(LATE).run()
    assert not at.exception and markers(chart(at, "parts_time")) == [LATE]
    now = bar_heights(chart(at, "parts_bars"))
    late = 0.7 / (0.7 + (0.2 if len(names) == 2 else 0.3))  # step 1's weight on the last part
    assert now[names[-1]] == pytest.approx(late)  # a late frame shows step 1
    assert any(f"frame {LATE} (step 1)" in m.value for m in at.markdown)


@pytest.fixture(scope="module")
def upload(tmp_path_factory) -> dict:
    """An uploaded AVI without a skeleton (20 frames, a bright square on grey)."""
    frames = np.full((20, 64, 80, 3), 90, np.uint8)
    frames[:, 20:40, 30:50] = 230
    path = write_video(tmp_path_factory.mktemp("upload") / "clip.avi", frames, fps=10)
    return {"kind": "upload", "video": str(path), "skeleton": None}


def test_parts_page_says_why_a_clip_without_skeleton_cannot_be_read(upload):
    at = run("parts.py", clip_source=upload, model_name="part_attention-cs")
    assert at.error and "cannot read this clip" in at.error[0].value
    assert not at.get("plotly_chart")


def test_separable_sta_page_draws_map_curve_interval_and_marker():
    at = run("spatiotemporal.py", clip_source=CLIP, model_name="separable_sta-cv")
    curve = chart(at, "sta_temporal")
    assert markers(curve) == [NUM_FRAMES // 2]
    bands = [(s["x0"], s["x1"]) for s in curve["layout"]["shapes"] if s["type"] == "rect"]
    assert bands == [INTERVAL]
    assert values(chart(at, "sta_map")["data"][0]["z"]).shape == (8, 8)  # separable STA at Mixed_3c
    assert any("of the temporal attention" in m.value for m in at.markdown)
    # where the map lands, with its baselines (drink water: the left hand carries it)
    place = next(m.value for m in at.markdown if "of the map's weight" in m.value)
    assert "(left hand)" in place and "equal weights would put" in place and "always the centre" in place
    assert any(m.value.startswith("Over its test split this model scores") for m in at.markdown)
    assert {"sta_video_webm", "sta_frame_png", "sta_temporal_html", "sta_map_html"} <= downloads(at)
    at.slider(key="frame").set_value(LATE).run()
    assert not at.exception and markers(chart(at, "sta_temporal")) == [LATE]


def test_soft_attention_lstm_page_steps_its_maps_with_the_slider(upload):
    at = run("spatiotemporal.py", clip_source=CLIP, model_name="soft_attention_lstm-cs")
    assert any("no temporal attention" in i.value for i in at.info)
    assert len(at.get("iframe")) == 1
    at.slider(key="frame").set_value(3).run()
    step = int(frame_steps(NUM_FRAMES, 16)[3])  # the cpu preset reads 16 frames of the person crop
    assert any(f"step {step} of 16 (frame 3)" in m.value for m in at.markdown)
    # it reads the person crop, so an upload with no person in it (a square on grey, no skeleton)
    # gets the page's plain refusal, not a map of the room
    at = run("spatiotemporal.py", clip_source=upload, model_name="soft_attention_lstm-cs")
    assert at.error and "cannot read this clip" in at.error[0].value
    assert not at.get("plotly_chart")


def test_sta_page_with_a_temporal_only_model(monkeypatch):
    real = state.inspection

    def temporal_only(entry, clip):
        insp = real(entry, clip)
        return dataclasses.replace(insp, attention={"temporal": insp.attention["temporal"]})

    monkeypatch.setattr(state, "inspection", temporal_only)
    at = run("spatiotemporal.py", clip_source=CLIP, model_name="separable_sta-cv")
    assert any("no spatial attention map" in i.value for i in at.info)
    assert chart(at, "sta_temporal") and len(at.get("iframe")) == 1
    assert not [c for c in at.get("plotly_chart") if c.proto.id.endswith("sta_map")]


def test_a_model_that_pools_with_the_true_attention_says_so(monkeypatch):
    listed = state.models()

    def with_truth() -> list:  # the shipped separable STA, as a run that pooled with the true steps
        named = {"separable_sta-cv": {"true_attention": ("temporal",)}}
        return [dataclasses.replace(e, **named.get(e.name, {})) for e in listed]

    monkeypatch.setattr(state, "models", with_truth)
    at = run("spatiotemporal.py", clip_source=CLIP, model_name="separable_sta-cv")
    note = next(i.value for i in at.info if "true_attention" in i.value)
    assert note.startswith("**separable_sta-cv** pools with the ground-truth temporal weights")
    assert chart(at, "sta_temporal")  # the page goes on


def test_sta_page_says_why_a_clip_without_skeleton_cannot_be_read(upload):
    at = run("spatiotemporal.py", clip_source=upload, model_name="separable_sta-cv")
    assert at.error and "cannot read this clip" in at.error[0].value
